/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice); see free-port.js. */
export declare function freePort(): Promise<number>;
/** A port on 127.0.0.1 free for both UDP and TCP a moment ago (a DNS server's); see free-port.js. */
export declare function freeDnsPort(): Promise<number>;
