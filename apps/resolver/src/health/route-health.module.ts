import { Module } from '@nestjs/common';
import { RouteHealthController, RouteHealthService } from './route-health.controller';

@Module({
  controllers: [RouteHealthController],
  providers: [RouteHealthService],
})
export class RouteHealthModule {}
