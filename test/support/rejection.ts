import { expect } from 'chai';
/** The error a promise rejects with; fails the test when it resolves instead. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Fails unless `promise` rejects with an error whose text (String(error)) matches `message`. */
export async function expectReject(promise: Promise<unknown>, message: RegExp): Promise<void> {
  expect(String(await rejection(promise))).to.match(message);
}
