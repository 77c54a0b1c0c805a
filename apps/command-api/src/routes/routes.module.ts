import { Module } from '@nestjs/common';
import { StoreModule } from '../store/store.module';
import { RoutesController } from './routes.controller';
import { RoutesService } from './routes.service';

@Module({
  imports: [StoreModule],
  controllers: [RoutesController],
  providers: [RoutesService],
})
export class RoutesModule {}
