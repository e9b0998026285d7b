/**
 * Where generation's loop takes each new token's chosen ids from, in order: chosen on the host after
 * a readback per token (host_tokens.ts: every processor and sampling), or chosen on the device and
 * read back a few steps behind (device_tokens.ts: greedy decoding on webgpu's fused decoder). The
 * loop (generate.ts) applies the stopping rules and feeds the streamer the same way for both.
 */
export interface TokenSource {
  /** The chosen ids [batch] of new token 0, from the prompt's logits (NON_FINITE_ID where they held NaN/Inf). */
  first(): Promise<ArrayLike<number>>;
  /** The chosen ids of the next token; `fed` is the token before as the loop appended it (finished rows padded). */
  next(fed: readonly number[]): Promise<ArrayLike<number>>;
  /** Frees what it holds, once work still in flight has ended; called once generation stops. */
  dispose(): Promise<void>;
}
