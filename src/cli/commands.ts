/** Every CLI command: each file registers itself; add a command with one import line here. */
import './generate.js';
import './run.js';
import './bench.js';
import './train.js';
import './finetune.js';
import './demo.js';
