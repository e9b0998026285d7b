/**
 * The floor plan, checked by dependency-cruiser on the compiled JavaScript (where `import type`
 * is gone, so only value imports count): no import cycle between files, and each floor imports
 * only floors below it (or itself), which rules out cycles between folders. Floors run bottom to
 * top; a file directly in src/ is a room of its own. README, "Architecture", explains each floor.
 * Run: `npm run check:imports` (the test suite runs it too).
 */
const FLOORS = [
  ['custom-kernels'],                                  // the kernel contract: names, inputs, the packed format
  ['custom-kernels/shared'],                           // typed-array kernels shared by cpu and wasm
  ['custom-kernels/cpu', 'custom-kernels/wasm', 'custom-kernels/webgpu', 'custom-kernels/composite'],   // one folder per backend
  ['src/config', 'src/prng', 'src/options', 'src/validate', 'src/process_handlers', 'src/io', 'src/webgpu', 'src/wasm'],
                                                       // config, option names and argument checks, checkpoints and the Hub, WebGPU and wasm set-up
  ['src/ops'],                                         // the ops: kernels, gradients, composite fallbacks
  ['src/register'],                                    // registers kernels, gradients, the file handler
  ['src/weights'],                                     // the LinearWeight seam: float and packed weights
  ['src/layers'],                                      // the module tree: layers, modules, the walker
  ['src/lora', 'src/quantization'],                    // what changes a module tree: adapters, packed weights
  ['src/generation'],                                  // decoding loops over a GenerativeModel
  ['src/model'],                                       // MambaModel, MambaForCausalLM, the cache, the fused decoder
  ['src/tokenizer', 'src/data', 'src/training', 'src/backend'],
  ['src/auto'],                                        // AutoConfig, AutoModelForCausalLM: device, dtype, progress events
  ['src/pipeline'],
  ['src/index', 'src/kernels'],                        // the two public entry points
  ['bench/routines', 'src/demo'],                      // benchmarks, the demo's server
  ['src/cli'],                                         // the command line
];

const { existsSync } = require('node:fs');
const { join } = require('node:path');

/** A room is a folder, or a file directly in src/ (`src/config` is src/config.ts). */
const isFileRoom = (room) => /^src\/[^/]+$/.test(room) && existsSync(join(__dirname, `${room}.ts`));

/**
 * The room a compiled file (`src/io/hub.js`) sits in: its folder; a file directly in src/; a backend's
 * folder under custom-kernels/ with its subfolders (`webgpu/decode`, `webgpu/gemm`), whose files may
 * share helpers both ways (cycles between their files are still refused).
 */
function roomOf(path) {
  const file = path.replace(/\.js$/, '');
  if (isFileRoom(file)) return file;
  const parts = path.split('/');
  if (parts[0] === 'custom-kernels' && parts.length > 3) return parts.slice(0, 2).join('/');
  return parts.slice(0, -1).join('/');
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const roomPattern = (room) => (isFileRoom(room) ? `^${escape(room)}\\.js$`
  : room.startsWith('custom-kernels/') ? `^${escape(room)}/.+\\.js$` : `^${escape(room)}/[^/]+\\.js$`);

/** dependency-cruiser's rules for a plan: no file cycle, and no floor importing one above it. */
function floorRules(floors) {
  const rules = [
    { name: 'no-circular', comment: 'a value-import cycle between files', severity: 'error', from: {}, to: { circular: true } },
  ];
  floors.forEach((floor, i) => {
    const above = floors.slice(i + 1).flat();
    if (above.length === 0) return;
    rules.push({
      name: `floor-${i}-imports-upward`, comment: `${floor.join(', ')} may import only floors below`, severity: 'error',
      from: { path: floor.map(roomPattern).join('|') },
      to: { path: above.map(roomPattern).join('|') },
    });
  });
  return rules;
}

module.exports = {
  forbidden: floorRules(FLOORS),
  options: { doNotFollow: { path: 'node_modules' }, exclude: { path: 'node_modules' } },
  FLOORS,
  roomOf,
  floorRules,
};
