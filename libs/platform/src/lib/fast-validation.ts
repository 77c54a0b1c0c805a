import { ValidationPipe, type ArgumentMetadata, type Type } from '@nestjs/common';

const FAST_PATH = Symbol('tm:fast-validation');

/**
 * Recognises a plainly valid value of a DTO and builds the instance that the ValidationPipe would
 * have built from it; anything else (undefined) goes to class-validator as usual.
 */
export type FastPath<T> = (value: unknown) => T | undefined;

type WithFastPath<T> = Type<T> & { [FAST_PATH]?: FastPath<T> };

/**
 * Gives a request DTO that sits on a hot path a fast path past class-transformer and
 * class-validator. It must accept only values that the DTO's decorators accept and return what
 * the pipe would (an instance of the DTO with the same, transformed, properties); whatever it
 * does not accept is validated by the decorators, which remain the rules and produce every error.
 * Keep it to a few plain checks, and test that it agrees with the decorators (compare
 * `validationPipe()` with `validationPipe({ fastPaths: false })` over valid and invalid values).
 */
export function FastValidation<T>(accept: FastPath<T>): (target: Type<T>) => void {
  return (target) => {
    (target as WithFastPath<T>)[FAST_PATH] = accept;
  };
}

/**
 * True when `value` is an object (not an array nor binary) whose enumerable keys, inherited ones
 * included, are all among `allowed`. Fastify's params and query objects have prototypes of their
 * own (null-prototype chains), so the prototype itself is not checked.
 */
export function hasOnlyKeys(value: unknown, allowed: readonly string[]): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  for (const key in value) if (!allowed.includes(key)) return false;
  return true;
}

/** The global ValidationPipe, which first tries the DTO's fast path when it has one. */
export class FastPathValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const accept = (metadata.metatype as WithFastPath<unknown> | undefined)?.[FAST_PATH];
    if (accept !== undefined) {
      const accepted = accept(value);
      if (accepted !== undefined) return Promise.resolve(accepted);
    }
    return super.transform(value, metadata);
  }
}
