import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { bigintNumber } from './bigint';

@Entity({ name: 'tenants' })
export class TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('text')
  slug!: string;

  @Column('text', { name: 'display_name', nullable: true })
  displayName!: string | null;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;
}

@Entity({ name: 'services' })
export class ServiceEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('uuid', { name: 'tenant_id' })
  tenantId!: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id' })
  tenant?: TenantEntity;

  @Column('text')
  name!: string;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;
}

@Entity({ name: 'endpoints' })
export class EndpointEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('uuid', { name: 'service_id' })
  serviceId!: string;

  // Not cascaded: a route goes only with a statement that names it and writes its event.
  @ManyToOne(() => ServiceEntity, { onDelete: 'NO ACTION' })
  @JoinColumn({ name: 'service_id' })
  service?: ServiceEntity;

  @Column('text')
  environment!: string;

  @Column('text')
  url!: string;

  /** The traffic policy, normalised; null for a route that is its URL alone (see the migration). */
  @Column('jsonb', { nullable: true })
  policy!: unknown;

  /** `{<endpoint id>: <revision>}`: where each endpoint's health began; null: the row's revision. */
  @Column('jsonb', { name: 'health_revisions', nullable: true })
  healthRevisions!: Record<string, number> | null;

  @Column('bigint', { transformer: bigintNumber })
  revision!: number;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;
}

@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** The public part of the key, used to find it; the secret is only stored hashed. */
  @Column('text')
  lookup!: string;

  @Column('bytea', { name: 'secret_hash' })
  secretHash!: Buffer;

  @Column('text')
  name!: string;

  @Column('uuid', { name: 'tenant_id', nullable: true })
  tenantId!: string | null;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'tenant_id' })
  tenant?: TenantEntity | null;

  @Column('text', { array: true })
  scopes!: string[];

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt!: Date | null;
}

@Entity({ name: 'outbox' })
export class OutboxEntity {
  @PrimaryColumn('bigint', { transformer: bigintNumber })
  id!: number;

  @Column('uuid', { name: 'event_id' })
  eventId!: string;

  @Column('text', { name: 'route_key' })
  routeKey!: string;

  @Column('text', { name: 'event_type' })
  eventType!: string;

  @Column('jsonb')
  payload!: unknown;

  @Column('bigint', { transformer: bigintNumber })
  revision!: number;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'published_at', nullable: true })
  publishedAt!: Date | null;
}

export const ENTITIES = [TenantEntity, ServiceEntity, EndpointEntity, ApiKeyEntity, OutboxEntity];
