/**
 * Which rows are done, as HF's generate tracks it: a row that emitted an eos id is finished and
 * emits the pad id from then on; generation stops when every row is finished (or at the length limit,
 * which the loop counts).
 */
export class FinishedRows {
  private readonly finished: boolean[];
  private readonly eos: ReadonlySet<number>;

  constructor(batchSize: number, eosTokenIds: readonly number[], private readonly padTokenId: number | null) {
    this.finished = new Array<number>(batchSize).fill(0).map(() => false);
    this.eos = new Set(eosTokenIds);
  }

  /** The ids a step appends: finished rows get the pad id; rows that now emit eos become finished. */
  update(next: readonly number[]): number[] {
    const out = next.map((id, row) => (this.finished[row] && this.padTokenId != null ? this.padTokenId : id));
    out.forEach((id, row) => { if (this.eos.has(id)) this.finished[row] = true; });
    return out;
  }

  get all(): boolean {
    return this.eos.size > 0 && this.finished.every(Boolean);
  }
}
