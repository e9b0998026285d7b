/**
 * The first-order linear recurrence h_t = a_t * h_{t-1} + b_t along axis 1, from public ops, exactly:
 * only products of the decays are formed (no log-space cumulative sums, which overflow on long
 * sequences), with O(len) work and O(log len) op launches.
 *
 * Odd-even recursive doubling: the recurrence step t is the affine map h -> a_t h + b_t, and maps
 * compose associatively, (a2, b2) o (a1, b1) = (a2 a1, a2 b1 + b2). Each pair of neighbours is
 * composed into one step, the half-length recurrence is solved recursively (giving the state at the
 * later position of every pair), and the earlier position of every pair follows in one step.
 * About a dozen launches per halving.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * @param a, b [batch, len, width]
 * @param carry [batch, width], the state before the first position (null: zero)
 * @param reverse run the recurrence backwards in time: h_t = a_t * h_{t+1} + b_t, carry after the last position
 * @returns h [batch, len, width]
 */
export function linearScan(
  a: tf.Tensor3D, b: tf.Tensor3D, carry: tf.Tensor2D | null, reverse: boolean,
): tf.Tensor3D {
  return tf.tidy(() => solve(a, carry == null ? b : tf.tidy(() => foldCarry(a, b, carry, reverse)), reverse));
}

/**
 * The sequence moved one position along axis 1 (forward: out_t = seq_{t-1}; reverse: out_t = seq_{t+1}),
 * with `edge` [batch, width] (null: zero) entering at the open end.
 */
export function shiftIn(seq: tf.Tensor3D, edge: tf.Tensor2D | null, reverse: boolean): tf.Tensor3D {
  const [batch, len, width] = seq.shape;
  const widened: tf.Tensor3D = edge == null
    ? tf.pad(seq, [[0, 0], reverse ? [0, 1] : [1, 0], [0, 0]])
    : tf.concat(reverse ? [seq, tf.expandDims(edge, 1)] : [tf.expandDims(edge, 1), seq], 1);
  return tf.slice(widened, [0, reverse ? 1 : 0, 0], [batch, len, width]);
}

/** Starting from `carry` equals starting from zero with a * carry added to the first step's b. */
function foldCarry(a: tf.Tensor3D, b: tf.Tensor3D, carry: tf.Tensor2D, reverse: boolean): tf.Tensor3D {
  const [batch, len, width] = a.shape;
  const first = reverse ? len - 1 : 0;
  const term = tf.mul(tf.slice(a, [0, first, 0], [batch, 1, width]), tf.expandDims(carry, 1));
  return tf.add(b, tf.pad(term, [[0, 0], [first, len - 1 - first], [0, 0]]));
}

/**
 * Memory: each level keeps only the first steps of its pairs while the levels below run, and frees its
 * temporaries as soon as it is done, so the peak stays a few times the input rather than the sum of
 * every level's temporaries. Never disposes `a` or `b`; may return `b` itself (length 1).
 */
function solve(a: tf.Tensor3D, b: tf.Tensor3D, reverse: boolean): tf.Tensor3D {
  const [batch, len, width] = a.shape;
  if (len === 1) return b;
  if (len % 2 === 1) {
    // One identity step (1, 0) at the end makes the length even and changes no real position.
    const grow: Array<[number, number]> = [[0, 0], [0, 1], [0, 0]];
    const [aEven, bEven] = tf.tidy(() => [tf.pad(a, grow, 1), tf.pad(b, grow)]) as tf.Tensor3D[];
    const h = solve(aEven, bEven, reverse);
    const out = tf.slice(h, [0, 0, 0], [batch, len, width]);
    tf.dispose([aEven, bEven, h]);
    return out;
  }
  const half = len / 2;
  const up = tf.tidy(() => {
    // [batch, half, 2 * width]: even positions in the first half of the last axis, odd in the second.
    const [aEven, aOdd] = tf.split(tf.reshape(a, [batch, half, 2 * width]), 2, 2) as tf.Tensor3D[];
    const [bEven, bOdd] = tf.split(tf.reshape(b, [batch, half, 2 * width]), 2, 2) as tf.Tensor3D[];
    // Within a pair, the earlier step in the direction of the recurrence applies first.
    const [aFirst, aSecond, bFirst, bSecond] = reverse ? [aOdd, aEven, bOdd, bEven] : [aEven, aOdd, bEven, bOdd];
    return {
      aFirst, bFirst,
      // The composed decays are not read at the last level (length 1 returns b).
      aPair: half > 1 ? tf.mul<tf.Tensor3D>(aSecond, aFirst) : aSecond,
      bPair: tf.add<tf.Tensor3D>(tf.mul(aSecond, bFirst), bSecond),
    };
  });
  const hSecond = solve(up.aPair, up.bPair, reverse);
  const h = tf.tidy(() => {
    // The first of each pair continues from the second of the neighbouring pair before it.
    const hFirst = half > 1
      ? tf.add<tf.Tensor3D>(tf.mul(up.aFirst, shiftIn(hSecond, null, reverse)), up.bFirst) : up.bFirst;
    const [hEven, hOdd] = reverse ? [hSecond, hFirst] : [hFirst, hSecond];
    return tf.reshape(tf.concat([hEven, hOdd], 2), [batch, len, width]) as tf.Tensor3D;
  });
  tf.dispose([up.aFirst, up.bFirst, up.aPair, up.bPair, hSecond]);
  return h;
}
