/**
 * The modules weight-only quantization covers, under HF's module paths: the mixers' four
 * projections, the embedding table (which a tied LM head reads too) and an untied LM head; and how
 * a packed weight takes a float one's place in the model.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '../layers/layer_args.js';
import type { MambaMixer } from '../layers/mixer.js';
import type { MambaForCausalLM } from '../model/causal_lm.js';
import type { MambaModel } from '../model/mamba_model.js';
import type { QuantLayout } from './format.js';
import type { PackedMatrix } from './packing.js';
import { QuantizedProjection } from './quantized_projection.js';
import { QuantizedWeight } from './quantized_weight.js';

export type QuantizableModel = MambaForCausalLM | MambaModel;

export interface QuantizableModule {
  /** HF's module path (`backbone.layers.0.mixer.in_proj`); its weight is `<path>.weight`. */
  path: string;
  kind: 'linear' | 'embedding';
  /** The layer whose weight lists hold the weight. */
  owner: tf.layers.Layer;
  /** The float weight [out, in] (for the embedding table [vocab, hidden]). */
  weight: LayerVariable;
  /** Routes the module's reads to the packed weight. */
  install(q: QuantizedWeight): void;
}

const PROJECTIONS = [['in_proj', 'inProj'], ['x_proj', 'xProj'], ['dt_proj', 'dtProj'], ['out_proj', 'outProj']] as const;

/** Packed weights by the float variable they replaced (its shape and name stay the model's). */
const replaced = new WeakMap<LayerVariable, QuantizedWeight>();

export function quantizedWeightOf(variable: LayerVariable): QuantizedWeight | undefined {
  return replaced.get(variable);
}

function isCausalLM(model: QuantizableModel): model is MambaForCausalLM {
  return 'lmHead' in model;
}

export function quantizableModules(model: QuantizableModel): QuantizableModule[] {
  const backbone = isCausalLM(model) ? model.backbone : model;
  const head = isCausalLM(model) ? model.lmHead : null;
  const embeddings = backbone.embeddings;
  const modules: QuantizableModule[] = [];
  backbone.blocks.forEach((block, i) => {
    const mixer: MambaMixer = block.mixer;
    for (const [name, field] of PROJECTIONS) {
      modules.push({
        path: `backbone.layers.${i}.mixer.${name}`, kind: 'linear', owner: mixer, weight: mixer[field].weight,
        install: (q) => { mixer[field] = new QuantizedProjection(mixer[field], q); },
      });
    }
  });
  modules.push({
    path: 'backbone.embeddings', kind: 'embedding', owner: embeddings, weight: embeddings.weight,
    install: (q) => {
      embeddings.lookup = (ids) => q.gather(ids);
      if (head?.tieWordEmbeddings) head.matmul = (h) => q.linear(h);
    },
  });
  if (head != null && !head.tieWordEmbeddings) {
    modules.push({
      path: 'lm_head', kind: 'linear', owner: head, weight: head.weight,
      install: (q) => { head.matmul = (h) => q.linear(h); },
    });
  }
  return modules;
}

/**
 * Puts `matrix` in the module's place: the packed tensors join the owner's weights, the float
 * weight leaves them and is disposed, and the module reads through the packed one from now on.
 */
export function installQuantized(module: QuantizableModule, layout: QuantLayout, matrix: PackedMatrix): QuantizedWeight {
  const { owner, weight } = module;
  const [rows, columns] = weight.shape as number[];
  const q = QuantizedWeight.create(owner, module.path, [rows, columns], layout, matrix);
  // Every weight in one list keeps each one's trainable flag and the order `weights` reports.
  const kept = owner.weights.filter((w) => w !== weight);
  owner.trainableWeights = kept;
  owner.nonTrainableWeights = [];
  weight.dispose();
  module.install(q);
  replaced.set(weight, q);
  return q;
}
