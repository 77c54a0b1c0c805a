import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

export class FieldErrorDoc {
  @ApiProperty({ example: 'url' })
  field!: string;

  @ApiProperty({ example: 'url must use http or https' })
  message!: string;
}

/** RFC 9457 problem details, as every error is answered (content type application/problem+json). */
export class ProblemDoc {
  @ApiProperty({ description: '`urn:traffic-manager:problem:<code>` when the problem has a code, else `about:blank`', example: 'urn:traffic-manager:problem:validation' })
  type!: string;

  @ApiPropertyOptional({ description: "the problem's stable code, when it has one (the same as in type): what clients read", example: 'validation' })
  code?: string;

  @ApiProperty({ example: 'Bad Request' })
  title!: string;

  @ApiProperty({ example: 400 })
  status!: number;

  @ApiProperty({ example: 'the request is not valid; see errors' })
  detail!: string;

  @ApiPropertyOptional({ description: 'the request path' })
  instance?: string;

  @ApiPropertyOptional({ description: 'the X-Request-Id of the request' })
  requestId?: string;

  @ApiPropertyOptional({ type: [FieldErrorDoc], description: 'on 400: what is wrong with which field' })
  errors?: FieldErrorDoc[];

  @ApiPropertyOptional({ description: 'on 500: quote it when reporting the error' })
  errorId?: string;
}

const MEANING: Record<number, string> = {
  400: 'Invalid input (field errors listed), malformed JSON or a forged cursor',
  401: 'Missing or unknown bearer key (with WWW-Authenticate: Bearer)',
  403: 'The key lacks the scope or the tenant',
  404: 'No such resource',
  409: 'It exists already, or a tenant quota has no room for it (the code says which)',
  412: 'A precondition (If-Match / If-None-Match / minimum revision) does not hold',
  413: 'The body is larger than 16 KiB (64 KiB for a route PUT)',
  415: 'The body is not application/json',
  429: 'Too many requests (rate_limited: the key is over RATE_LIMIT_PER_KEY, with RateLimit and RateLimit-Policy; watch_stream_quota); retry after Retry-After seconds',
  503: 'A dependency is down; retry after Retry-After seconds',
};

/** Documents the problem answers an endpoint can give. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: MEANING[status] ?? 'Error',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDoc' } } },
      }),
    ),
  );
}
