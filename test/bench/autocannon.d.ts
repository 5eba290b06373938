/** The part of autocannon 9's programmatic API the benchmarks use (the package ships no types). */
declare module 'autocannon' {
  namespace autocannon {
    /** An hdr-histogram-percentiles-obj summary. */
    interface Histogram {
      readonly average: number;
      readonly mean: number;
      readonly stddev: number;
      readonly min: number;
      readonly max: number;
      readonly total: number;
      readonly p50: number;
      readonly p90: number;
      readonly p99: number;
    }
    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      /** Responses for which this returns false are counted in `mismatches`. */
      verifyBody?: (body: string) => boolean;
      timeout?: number;
    }
    interface Result {
      readonly requests: Histogram & { readonly sent: number };
      readonly latency: Histogram;
      /** Seconds actually run. */
      readonly duration: number;
      readonly errors: number;
      readonly timeouts: number;
      readonly mismatches: number;
      readonly non2xx: number;
      readonly statusCodeStats: Record<string, { readonly count: number }>;
    }
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export = autocannon;
}
