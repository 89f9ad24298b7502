//! The origin's catalog answered from the API's database.

use lectern_api::Database;
use lectern_origin::catalog::Lookup;
use lectern_origin::{Catalog, CatalogError, VideoEntry};

/// [`Catalog`] over the `videos` table: only ready videos have a presentation.
pub struct SqlCatalog(pub Database);

impl Catalog for SqlCatalog {
    fn lookup<'a>(&'a self, video_id: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let row = self
                .0
                .video(video_id)
                .await
                .map_err(|e| CatalogError(e.to_string()))?;
            Ok(row.and_then(|v| {
                let prefix = v.prefix.filter(|_| v.status == "ready")?;
                Some(VideoEntry {
                    prefix,
                    public: v.public,
                })
            }))
        })
    }

    fn ready(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        Box::pin(self.0.ping())
    }
}
