//! The access-token cache the OAuth connectors share (office365, google_workspace): a
//! token is reused until five minutes before it expires (or half its lifetime, for
//! short-lived ones), fetched by one caller at a time while the others wait, and
//! forgotten after a 401 so that the next call fetches a fresh one.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::secret::Secret;

/// How long before its expiry a cached token is renewed.
pub const RENEW_BEFORE: Duration = Duration::from_secs(300);

struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// One app's cached access token.
pub struct TokenCache {
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    pub fn new() -> Self {
        TokenCache {
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached token while it is fresh, else the one `fetch` gets (a token and its
    /// lifetime), cached. The lock is held through the fetch: concurrent callers wait
    /// for that one token instead of each asking for their own.
    pub async fn get_or_fetch<F, Fut>(&self, fetch: F) -> Result<Secret>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration)>>,
    {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = fetch().await?;
        let renew_in = lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
        *cache = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + renew_in,
        });
        Ok(token)
    }

    /// Forgets the cached token (after a 401), so that the next call fetches one.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_fresh_token_is_reused_and_an_invalidated_one_replaced() {
        let cache = TokenCache::new();
        let fetched = AtomicU32::new(0);
        let fetch = || async {
            let n = fetched.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((Secret::new(format!("t{n}")), Duration::from_secs(3600)))
        };
        assert_eq!(cache.get_or_fetch(fetch).await.unwrap().expose(), "t1");
        assert_eq!(cache.get_or_fetch(fetch).await.unwrap().expose(), "t1");
        cache.invalidate().await;
        assert_eq!(cache.get_or_fetch(fetch).await.unwrap().expose(), "t2");
        // A token about to expire is renewed at once... after half its lifetime.
        let short = TokenCache::new();
        let once = || async { Ok((Secret::new("s"), Duration::ZERO)) };
        short.get_or_fetch(once).await.unwrap();
        let again = || async { Ok((Secret::new("s2"), Duration::from_secs(60))) };
        assert_eq!(short.get_or_fetch(again).await.unwrap().expose(), "s2");
        assert_eq!(fetched.load(Ordering::SeqCst), 2);
    }
}
