//! What one HLS request carries besides its path: the viewer's credentials (its token and
//! address), the query its URIs carry on, and its Delivery Directives. Pure.

use std::net::SocketAddr;
use std::time::Instant;

use tern_model::local::Credentials;

use super::reload::ReloadRequest;
use super::serve::Failure;
use super::text::QuerySuffix;

/// What one request carries besides its path.
pub(super) struct Viewer {
    pub credentials: Credentials,
    pub query: QuerySuffix,
    pub reload: ReloadRequest,
    pub private: bool,
    pub received: Instant,
}

/// The viewer's query: its Delivery Directives, the rest to carry on, its token.
pub(super) fn viewer(query: &str, peer: SocketAddr, received: Instant) -> Result<Viewer, Failure> {
    let reload = ReloadRequest::parse(query).map_err(|e| Failure::new(400, e.to_string()))?;
    let mut token = None;
    let carried: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("_HLS_"))
        .inspect(|pair| {
            if let Some(value) = pair.strip_prefix("token=") {
                token = Some(value.to_owned());
            }
        })
        .collect();
    let query =
        QuerySuffix::new(&carried.join("&")).map_err(|e| Failure::new(400, e.to_string()))?;
    Ok(Viewer {
        credentials: Credentials {
            peer,
            token,
            via: "hls",
            member: false,
        },
        private: !query.is_empty(),
        query,
        reload,
        received,
    })
}
