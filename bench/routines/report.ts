/** The benchmark table, as markdown. */
import type { DecodeResult } from './decode.js';
import type { PrefillResult } from './prefill.js';

export interface BenchReport {
  date: string;
  machine: string;
  backend: string;
  /** The wasm backend's threads; null for other backends. */
  threads: number | null;
  /** wasm only: whether its kernels ran fused multiply-adds (relaxed SIMD). */
  fusedMultiplyAdd?: boolean;
  shape: string;
  prefill: PrefillResult[];
  decode: DecodeResult[];
}

const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits });

export function reportMarkdown(r: BenchReport): string {
  const lines = [
    `### ${r.shape}, float32, \`${r.backend}\` backend${r.threads == null ? '' : `, ${r.threads} thread${r.threads === 1 ? '' : 's'}`}${r.fusedMultiplyAdd ? ', fused multiply-add' : ''}`,
    '',
    `${r.date}, ${r.machine}`,
    '',
    '| measurement | tokens/s | ms | scan kernel share |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const p of r.prefill) {
    const share = p.scanShare == null ? 'n/a' : `${fmt(100 * p.scanShare)}%`;
    lines.push(`| prefill, batch ${p.batch} x ${p.seqLen}, ${p.logits} logits | ${fmt(p.tokensPerSecond)} | ${fmt(p.ms, 0)} | ${share} |`);
  }
  for (const d of r.decode) {
    lines.push(`| decode, batch ${d.batch}, at position ${fmt(d.position, 0)} | ${fmt(d.tokensPerSecond)} | ${fmt(d.msPerToken)} per step | |`);
  }
  return `${lines.join('\n')}\n`;
}
