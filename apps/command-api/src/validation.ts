import { registerDecorator, Matches, type ValidationArguments, type ValidationOptions } from 'class-validator';
import { charLength, endpointUrlProblem, NAME_PATTERN, plainTextProblem } from '@tm/contracts';

const NAME_MESSAGE = 'must be 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit';

/** A tenant, service or environment name (docs/guarantees.md, "Words"). */
export function IsName(options?: ValidationOptions): PropertyDecorator {
  return Matches(NAME_PATTERN, { message: (a: ValidationArguments) => `${a.property} ${NAME_MESSAGE}`, ...options });
}

/** An endpoint URL as the contract defines it. */
export function IsEndpointUrl(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isEndpointUrl',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: (a: ValidationArguments) => `${a.property} ${endpointUrlProblem(a.value) ?? 'is not valid'}`,
        ...options,
      },
      validator: { validate: (value: unknown) => endpointUrlProblem(value) === undefined },
    });
}

/** Free text stored as is (display names, key names): well-formed, no control characters. */
export function IsPlainText(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isPlainText',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: (a: ValidationArguments) => `${a.property} ${plainTextProblem(a.value) ?? 'is not valid'}`,
        ...options,
      },
      validator: { validate: (value: unknown) => plainTextProblem(value) === undefined },
    });
}

/**
 * A string of `min` to `max` characters counted as the database's CHECK (char_length) counts them:
 * code points (class-validator's @Length does not count U+FE0F, so a value it accepts could fail the
 * CHECK). Use it, not @Length or @MaxLength, for every length the database also checks.
 */
export function CharLength(min: number, max: number, options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'charLength',
      target: target.constructor,
      propertyName: String(propertyName),
      constraints: [min, max],
      options: { message: (a: ValidationArguments) => `${a.property} must be ${min} to ${max} characters long`, ...options },
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'string') return false;
          const n = charLength(value);
          return n >= min && n <= max;
        },
      },
    });
}
