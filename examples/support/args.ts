/** The examples' command line: `--quick` (a few seconds, what CI runs) and the positional arguments. */
export const quick = process.argv.includes('--quick');

/** The arguments that are not flags, in order. */
export const positionals = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));

/** A small corpus inside the repository, so that every example runs from a clean clone. */
export const EXAMPLE_TEXT = 'examples/data/proverbs.txt';
