/** normalizeOptions: camelCase and snake_case names to one object, unknown names named with the nearest known one. */
import { expect } from 'chai';
import { normalizeOptions, snakeCase, type OptionTable } from '../../src/options/normalize_options.js';

interface Opts { maxNewTokens?: number; doSample?: boolean; device?: string; topK?: number }
const TABLE: OptionTable<Opts> = { maxNewTokens: true, doSample: true, device: ['backend'], topK: true };

describe('normalizeOptions', () => {
  it('snakeCase follows HF names', () => {
    expect(['maxNewTokens', 'topK', 'repetitionPenalty', 'eosTokenId', 'seed'].map(snakeCase))
      .to.deep.equal(['max_new_tokens', 'top_k', 'repetition_penalty', 'eos_token_id', 'seed']);
  });

  it('camelCase, snake_case and synonyms give the same object', () => {
    const camel = normalizeOptions<Opts>({ maxNewTokens: 5, doSample: true, device: 'cpu', topK: 3 }, TABLE, 'test');
    const snake = normalizeOptions<Opts>({ max_new_tokens: 5, do_sample: true, backend: 'cpu', top_k: 3 }, TABLE, 'test');
    expect(snake).to.deep.equal(camel);
    expect(camel).to.deep.equal({ maxNewTokens: 5, doSample: true, device: 'cpu', topK: 3 });
  });

  it('drops undefined entries and accepts no options', () => {
    expect(normalizeOptions<Opts>({ max_new_tokens: undefined, topK: 2 }, TABLE, 'test')).to.deep.equal({ topK: 2 });
    expect(normalizeOptions<Opts>(undefined, TABLE, 'test')).to.deep.equal({});
  });

  it('an unknown name is an error naming it and the nearest known one', () => {
    expect(() => normalizeOptions({ max_new_token: 5 }, TABLE, 'generate'))
      .to.throw(TypeError, "generate: unknown option 'max_new_token'; did you mean 'max_new_tokens'?");
    expect(() => normalizeOptions({ maxNewToken: 5 }, TABLE, 'generate')).to.throw(/unknown option 'maxNewToken'; did you mean 'maxNewTokens'/);
    expect(() => normalizeOptions({ topk: 5 }, TABLE, 'generate')).to.throw(/did you mean 'topK'/);
    expect(() => normalizeOptions({ devise: 'cpu' }, TABLE, 'pipeline')).to.throw(/unknown option 'devise'; did you mean 'device'/);
    // a name no option is near: the list, not a guess
    expect(() => normalizeOptions({ attention_mask: 1 }, TABLE, 'pipeline'))
      .to.throw(new RegExp(`unknown option 'attention_mask'; the options are ${Object.keys(TABLE).join(', ')}$`));
  });

  it('one option under two names with different values is an error; the same value is not', () => {
    expect(() => normalizeOptions({ topK: 3, top_k: 4 }, TABLE, 'generate')).to.throw(/'topK' and 'top_k' are the same option/);
    expect(normalizeOptions<Opts>({ topK: 3, top_k: 3 }, TABLE, 'generate')).to.deep.equal({ topK: 3 });
  });

  it('options that are not an object are an error', () => {
    expect(() => normalizeOptions([1], TABLE, 'generate')).to.throw(/options must be an object, got an array/);
    expect(() => normalizeOptions(5, TABLE, 'generate')).to.throw(/options must be an object, got number/);
  });
});
