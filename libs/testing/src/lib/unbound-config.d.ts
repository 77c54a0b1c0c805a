/**
 * An Unbound configuration on 127.0.0.1:`port` (one thread, nothing outside `zone` resolved): the zone
 * as a stub zone on the resolver's DNS port (`stub`) or as static local-data (`records`); see unbound-config.js.
 */
export declare function unboundConfig(options: { dir: string; port: number; zone: string; stub?: number; records?: Array<{ name: string; address: string }>; ttl?: number }): string;
