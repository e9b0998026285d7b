/** The CLI's flag parser and progress line, in process. */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { parseArgs, type FlagSpec } from '../../src/cli/args.js';
import { UsageError } from '../../src/cli/command.js';
import { createProgress } from '../../src/cli/progress.js';

const SPECS: Record<string, FlagSpec> = {
  model: { type: 'string', help: '' },
  'top-k': { type: 'int', help: '' },
  temperature: { type: 'number', help: '' },
  'do-sample': { type: 'boolean', help: '' },
  backend: { type: 'string', alias: 'device', help: '' },
  lr: { type: 'number', range: 'positive', help: '' },
  seed: { type: 'int', range: 'non-negative', help: '' },
};

describe('CLI flags', () => {
  it('parses values, =values, booleans, aliases, positionals and --', () => {
    const args = parseArgs(['--model', 'm', '--top-k=5', 'a', '--temperature', '0.5', '--do-sample', '--device', '0', 'b', '--', '--c'], SPECS, 'x');
    expect(args).to.deep.equal({
      flags: { model: 'm', 'top-k': 5, temperature: 0.5, 'do-sample': true, backend: '0' }, positionals: ['a', 'b', '--c'], help: false,
    });
    expect(parseArgs(['-h'], SPECS, 'x').help).to.equal(true);
    expect(parseArgs(['-5'], SPECS, 'x').positionals).to.deep.equal(['-5']);
    expect(parseArgs(['--lr', '2.5e-4', '--seed', '0', '--temperature', '-.5'], SPECS, 'x').flags).to.deep.equal({ lr: 2.5e-4, seed: 0, temperature: -0.5 });
  });

  it('names the flag in every error', () => {
    const cases: [string[], RegExp][] = [
      [['--nope'], /unknown flag --nope for 'x'/],
      [['--top-k', '1.5'], /--top-k must be an integer, got '1.5'/],
      [['--temperature', 'hot'], /--temperature must be a number, got 'hot'/],
      [['--temperature', ''], /--temperature must be a number/],
      [['--model'], /--model needs a value/],
      [['--do-sample=1'], /--do-sample takes no value/],
      [['--top-k', '0x10'], /--top-k must be a number, got '0x10'/],
      [['--temperature', '1e999'], /--temperature must be a number, got '1e999'/],
      [['--temperature', '12abc'], /--temperature must be a number, got '12abc'/],
      [['--temperature', ' 5'], /--temperature must be a number, got ' 5'/],
      [['--temperature', 'Infinity'], /--temperature must be a number, got 'Infinity'/],
      [['--top-k', '1e3'], /--top-k must be an integer, got '1e3'/],
      [['--top-k', '99999999999999999999'], /--top-k must be an integer/],
      [['--lr', '-1'], /--lr must be greater than 0, got '-1'/],
      [['--lr', '0'], /--lr must be greater than 0, got '0'/],
      [['--seed', '-3'], /--seed must be 0 or more, got '-3'/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseArgs(argv, SPECS, 'x'), argv.join(' ')).to.throw(UsageError, message);
    }
  });
});

describe('CLI progress', () => {
  function sink(isTTY: boolean): { stream: Writable & { isTTY?: boolean }; text: () => string } {
    let text = '';
    const stream = new Writable({ write(chunk, _enc, done) { text += chunk; done(); } }) as Writable & { isTTY?: boolean };
    stream.isTTY = isTTY;
    return { stream, text: () => text };
  }

  it('draws one redrawn line on a terminal and erases it', () => {
    const s = sink(true);
    const p = createProgress(s.stream);
    p.download({ file: 'model.safetensors', loaded: 5e6, total: 1e7 });
    p.prefill(256, 1024);
    p.clear();
    expect(s.text()).to.equal('\r\x1b[Kmodel.safetensors [############            ] 50% 5.0/10.0 MB'
      + '\r\x1b[Kprefill [######                  ] 25% 256/1024 tokens\r\x1b[K');
  });

  it('writes nothing when stderr is not a terminal', () => {
    const s = sink(false);
    const p = createProgress(s.stream);
    p.download({ file: 'f', loaded: 1 });
    p.prefill(1, 2);
    p.clear();
    expect(s.text()).to.equal('');
  });
});
