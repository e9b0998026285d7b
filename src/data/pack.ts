/**
 * Tokenizes records into one stream (each record followed by the end-of-text token, so the model
 * learns where a record stops) and packs it into [seqLen] blocks, as transformers' run_clm groups texts.
 */

export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
}

/** Token ids of every record, each followed by `eosTokenId` (when not null). */
export function tokenizeRecords(records: readonly string[], tokenizer: TextEncoder, eosTokenId: number | null): Int32Array {
  const pieces = records.map((r) => tokenizer.encode(r, { addSpecialTokens: false }));
  const total = pieces.reduce((n, p) => n + p.length + (eosTokenId == null ? 0 : 1), 0);
  const out = new Int32Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
    if (eosTokenId != null) out[at++] = eosTokenId;
  }
  return out;
}

/** Consecutive blocks of `seqLen` tokens; the remainder that does not fill a block is dropped. */
export function packBlocks(tokens: Int32Array, seqLen: number): Int32Array[] {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new Error(`seqLen must be an integer >= 2 (one token predicts the next), got ${seqLen}`);
  const blocks: Int32Array[] = [];
  for (let start = 0; start + seqLen <= tokens.length; start += seqLen) blocks.push(tokens.subarray(start, start + seqLen));
  return blocks;
}
