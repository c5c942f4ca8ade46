//! One retry policy for every connector: transient vs permanent failures, Retry-After,
//! exponential backoff with full jitter, a bound on total time.
