/** Composite kernels: public tfjs ops only, for any backend without kernels of its own. */
import type { KernelConfig } from '@tensorflow/tfjs';

export const compositeKernelConfigs: Omit<KernelConfig, 'backendName'>[] = [];
