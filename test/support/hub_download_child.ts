/**
 * A separate process downloading one Hub file (for the test of two processes sharing a cache):
 * argv endpoint, cacheDir, repo, file; prints the local path on success.
 */
import { hubDownload } from '../../src/io/hub.js';

const [endpoint, cacheDir, repo, file] = process.argv.slice(2);
process.stdout.write(await hubDownload(repo, file, { endpoint, cacheDir }));
