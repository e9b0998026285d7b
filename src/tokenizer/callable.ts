/**
 * A base class whose instances are functions, as transformers.js' `Callable`: `tokenizer(texts, options)`
 * calls the instance's `_call`. The constructor returns the function itself, with the subclass's
 * prototype, so subclass fields and methods live on it.
 */
export abstract class Callable<A extends unknown[], R> {
  constructor() {
    const call = (...args: A): R => (call as unknown as Callable<A, R>)._call(...args);
    return Object.setPrototypeOf(call, new.target.prototype) as this;
  }

  protected abstract _call(...args: A): R;
}
