/**
 * Two kernels as one dispatch: the first's workgroups, then the second's, each running its own code.
 * A pass runs its dispatches one after another, each waiting for the one before, so a small dispatch
 * bound by latency (x_proj's 192 rows at 2.8b: a few microseconds, most of the GPU idle) costs its
 * whole latency on top of the work around it. Work that does not depend on it (in_proj's z half,
 * which only the state step reads) can run in its shadow instead of in the dispatch before.
 *
 * The module is both kernels' WGSL: each one's module-scope names take a prefix (`first_`, `second_`),
 * the second's bindings are numbered after the first's, and each entry point becomes a function that
 * a shared entry point calls with the builtins it asked for, its workgroup id counted from its own
 * first workgroup. The branch between them is on the workgroup's index, which is uniform, so each
 * kernel's barriers stay in uniform control flow. Both must have one workgroup size.
 */
import { computePipeline, type DecodeKernel, grid, GROUP_INDEX, type KernelSource, MAX_GROUPS_X } from './pipeline.js';

/** The builtins an entry point may ask for here: those that mean the same within either kernel's share of the grid. */
const PASSED_BUILTINS = ['workgroup_id', 'local_invocation_index', 'local_invocation_id', 'subgroup_size', 'subgroup_invocation_id'];

/** Why `first` and `second` cannot share a dispatch on `device`, or null where they can. */
export function whyNotPaired(device: GPUDevice, first: KernelSource, second: KernelSource): string | null {
  if (first.threads !== second.threads) return `their workgroups differ (${first.threads} and ${second.threads} threads)`;
  const bindings = first.bindings + second.bindings;
  if (bindings > device.limits.maxStorageBuffersPerShaderStage) {
    return `${bindings} storage bindings exceed the device's ${device.limits.maxStorageBuffersPerShaderStage} per stage`;
  }
  const bytes = first.workgroupBytes + second.workgroupBytes;
  if (bytes > device.limits.maxComputeWorkgroupStorageSize) {
    return `${bytes} bytes of workgroup memory exceed the device's ${device.limits.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

/** The WGSL of `first` and `second` in one dispatch (see the header); throws where whyNotPaired says why not. */
export function pairedSource(device: GPUDevice, first: KernelSource, second: KernelSource): KernelSource {
  const why = whyNotPaired(device, first, second);
  if (why != null) throw new Error(`pairedSource: the kernels cannot share a dispatch: ${why}`);
  const enables = new Set<string>();
  const [a, b] = [prefixed(first.code, 'first_', 0, enables), prefixed(second.code, 'second_', first.bindings, enables)];
  const builtins = [...new Set([...a.entry.params, ...b.entry.params].map((p) => p.builtin))];
  if (!builtins.includes('workgroup_id')) builtins.unshift('workgroup_id');
  /** The call of a kernel's entry function, its workgroup id `wg`. */
  const call = ({ name, params }: EntryPoint, wg: string) =>
    `${name}(${params.map((p) => (p.builtin === 'workgroup_id' ? wg : `builtin_${p.builtin}`)).join(', ')});`;
  const code = `${[...enables].map((e) => `enable ${e};`).join('\n')}
${a.code}
${b.code}
@compute @workgroup_size(${first.threads})
fn main(${builtins.map((n) => `@builtin(${n}) builtin_${n} : ${n === 'workgroup_id' || n === 'local_invocation_id' ? 'vec3<u32>' : 'u32'}`).join(', ')}) {
  let wg = builtin_workgroup_id;
  let group = ${GROUP_INDEX};
  if (group < ${first.groups}u) {
    ${call(a.entry, 'wg')}
  } else {
    let own = group - ${first.groups}u;
    ${call(b.entry, `vec3<u32>(own % ${MAX_GROUPS_X}u, own / ${MAX_GROUPS_X}u, 0u)`)}
  }
}`;
  return {
    code, groups: first.groups + second.groups, threads: first.threads,
    bindings: first.bindings + second.bindings, workgroupBytes: first.workgroupBytes + second.workgroupBytes,
  };
}

/** `first` and `second` in one dispatch, the first's buffers bound ahead of the second's. */
export function pairedKernel(device: GPUDevice, first: KernelSource, second: KernelSource): DecodeKernel {
  const { code, groups } = pairedSource(device, first, second);
  return { pipeline: computePipeline(device, code), grid: grid(groups) };
}

interface EntryPoint {
  name: string;
  params: { builtin: string; name: string; type: string }[];
}

/**
 * `code` with its module-scope names prefixed, its bindings numbered from `firstBinding`, its enable
 * directives taken out (into `enables`) and its entry point `main` an ordinary function (its builtin
 * parameters plain ones, in order).
 */
function prefixed(code: string, prefix: string, firstBinding: number, enables: Set<string>): { code: string; entry: EntryPoint } {
  let text = code.replace(/^\s*enable\s+([\w\s,]+);/gm, (_, names: string) => {
    for (const n of names.split(',')) enables.add(n.trim());
    return '';
  });
  const names = moduleScopeNames(text);
  if (!names.has('main')) throw new Error('pairedSource: a kernel has no entry point main');
  // every use of a module-scope name (not a member: .x of a vector), the same in its comments
  text = text.replace(/(?<![\w.])[A-Za-z_]\w*/g, (id) => (names.has(id) ? prefix + id : id));
  text = text.replace(/@binding\((\d+)\)/g, (_, n: string) => `@binding(${Number(n) + firstBinding})`);
  const head = new RegExp(`@compute\\s+@workgroup_size\\([^)]*\\)\\s*fn\\s+${prefix}main\\s*\\(`).exec(text);
  if (head == null) throw new Error('pairedSource: a kernel\'s main is not a compute entry point');
  const open = head.index + head[0].length;
  const close = matchingParen(text, open);
  const params = text.slice(open, close).split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => {
    const m = /^@builtin\((\w+)\)\s*(\w+)\s*:\s*(.+)$/.exec(p);
    if (m == null || !PASSED_BUILTINS.includes(m[1])) {
      throw new Error(`pairedSource: an entry point's parameter "${p}" is not one of the builtins ${PASSED_BUILTINS.join(', ')}`);
    }
    return { builtin: m[1], name: m[2], type: m[3] };
  });
  text = `${text.slice(0, head.index)}fn ${prefix}main(${params.map((p) => `${p.name} : ${p.type}`).join(', ')}${text.slice(close)}`;
  return { code: text, entry: { name: `${prefix}main`, params } };
}

/** The names declared at module scope (outside every brace): bindings, constants, variables, functions, types. */
function moduleScopeNames(code: string): Set<string> {
  const bare = code.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const names = new Set<string>();
  let depth = 0;
  for (const m of bare.matchAll(/[{}]|\b(?:const|override|var|fn|alias|struct)\b(?:\s*<[^>]*>)?\s+([A-Za-z_]\w*)/g)) {
    if (m[0] === '{') depth++;
    else if (m[0] === '}') depth--;
    else if (depth === 0) names.add(m[1]);
  }
  return names;
}

/** The index of the parenthesis closing the one before `open`. */
function matchingParen(text: string, open: number): number {
  let depth = 1;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  throw new Error('pairedSource: an entry point\'s parameters do not close');
}
