import { Global, Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditLog } from './audit-log';
import { AuditService } from './audit.service';
import { HistoryRetention } from './retention';

/** The audit log: recorded by every write (AuditLog, global), read at GET /v1/audit, pruned with history. */
@Global()
@Module({
  controllers: [AuditController],
  providers: [AuditLog, AuditService, HistoryRetention],
  exports: [AuditLog],
})
export class AuditModule {}
