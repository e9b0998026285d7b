/**
 * What generate/stream report to as they go, HF's BaseStreamer: `put` first gets the prompt
 * (row-major over the batch, as HF's put of the input tensor), then each step's new id of every row;
 * `end` once generation stops. The tokenizer's TextStreamer is one (batch 1).
 */
export interface Streamer {
  put(ids: readonly number[]): void;
  end(): void;
  /** The most rows it can follow (TextStreamer: 1, for which transformers' raises too); any where absent. */
  readonly maxBatchSize?: number;
}
