import type { Client } from 'pg';

/** See postgres-servers.js. */
export declare function makeFolder(): string;
export declare function removeFolder(dir: string): void;
export declare function initdb(dataDir: string): void;
export declare function basebackup(primaryPort: number, dataDir: string): void;
export declare function startServer(dataDir: string, port: number, socketDir: string): Promise<void>;
export declare function stopServer(dataDir: string, mode: 'fast' | 'immediate'): void;
export declare function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T>;
