import { ApiProperty } from '@nestjs/swagger';
import { RouteResponse } from '../../routes/dto/route.response';
import type { PropagationStatus, ResolverFeed } from '../propagation.status';

export class ResolverFeedResponse implements ResolverFeed {
  @ApiProperty({ example: 'resolver-7d9f-1', description: 'the replica (RESOLVER_REPLICA_ID, default host name and pid)' })
  replica!: string;

  @ApiProperty({ type: 'integer', example: 42, description: "the revision up to which the replica's watch feed holds every change" })
  feedRevision!: number;

  @ApiProperty({ type: String, format: 'date-time', description: 'when it last reported (Redis’s clock)' })
  seenAt!: string;

  @ApiProperty({ description: 'heard from within PROPAGATION_REPLICA_TIMEOUT_MS; a replica that is not live does not hold the status back' })
  live!: boolean;
}

export class PropagationResponse implements PropagationStatus {
  @ApiProperty({ type: 'integer', example: 42 })
  revision!: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: "when the revision was committed; null once its outbox rows are gone (OUTBOX_RETENTION_HOURS) or when it could not be read",
  })
  committedAt!: string | null;

  @ApiProperty({ enum: ['pending', 'in-sync'], description: 'in-sync: published, cacheApplied, and every live resolver replica holds the revision' })
  status!: 'pending' | 'in-sync';

  @ApiProperty({ description: 'every event up to the revision is on Kafka (no outbox row up to it is unpublished)' })
  published!: boolean;

  @ApiProperty({
    description:
      "the invalidation worker has applied every event up to the revision (its consumer group's committed offsets are past those the relay recorded for it); false while Kafka does not answer",
  })
  cacheApplied!: boolean;

  @ApiProperty({ type: [ResolverFeedResponse], description: 'the resolver replicas heard from in the last 10 minutes; empty while Redis does not answer' })
  resolvers!: ResolverFeedResponse[];

  @ApiProperty({ type: String, format: 'date-time' })
  checkedAt!: string;
}

/** A route write's answer with `?wait=in-sync`. */
export class RouteWithPropagationResponse extends RouteResponse {
  @ApiProperty({ type: PropagationResponse, required: false, description: 'with ?wait=in-sync only: the revision’s propagation when the answer was sent' })
  propagation?: PropagationResponse;
}

/** A DELETE's answer with `?wait=in-sync` (200 instead of 204). */
export class DeletedWithPropagationResponse {
  @ApiProperty({ type: 'integer', example: 43, description: 'the revision of the deletion' })
  revision!: number;

  @ApiProperty({ type: PropagationResponse })
  propagation!: PropagationResponse;
}
