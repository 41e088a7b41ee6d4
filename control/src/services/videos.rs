//! Videos, the use cases: a signed-in person starts one (an upload whose asset carries their
//! video row, in one transaction), reads one (a private video is the owner's: to anyone else
//! it does not exist), lists the public ones or their own, edits and deletes their own.
//!
//! Who may watch is enforced where the media are served, not only here: a public or unlisted
//! video has one public playback id; a private one has only a signed playback id, so its URL
//! alone plays nothing. Changing the visibility swaps them (the revocation is acknowledged
//! once no edge serves the old id).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::app::{now_rfc3339, AppError};
use crate::db::intake::IntakeRow;
use crate::db::search::{self, Terms};
use crate::db::videos::{self as store, Listed, Listing};
use crate::db::Db;
use crate::domain::accounts::User;
use crate::domain::asset::{Change, PlaybackIdInfo, PlaybackPolicy};
use crate::domain::ids::{AssetId, PlaybackId};
use crate::domain::upload::{IntakeSource, Upload};
use crate::domain::videos::{
    check_description, check_title, Order, Video, VideoInputError, Visibility,
};
use crate::domain::warnings::{check_summary, ContentFlag, Flags};
use crate::ingest::{self, NewUpload, Uploads};
use crate::services::assets::Assets;

/// Videos, and moments, a search finds at most (a page of results, as the home page's).
pub const SEARCH_RESULTS: u32 = 24;

/// Why a video operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// A title or description that is not acceptable.
    #[error(transparent)]
    Input(#[from] VideoInputError),
    /// No such video, or one the caller may not see.
    #[error("no such video")]
    NotFound,
    /// The caller may see it but not change it.
    #[error("only the video's owner (or an administrator) may change it")]
    Forbidden,
    /// Larger than the largest upload.
    #[error("the file is larger than the largest upload ({0} bytes)")]
    TooLarge(u64),
    /// An empty file.
    #[error("the file is empty")]
    Empty,
    /// The database, storage or the fleet failed.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<crate::db::DbError> for VideoError {
    fn from(e: crate::db::DbError) -> Self {
        VideoError::App(e.into())
    }
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Search {
    /// Videos whose title, channel name or description has every word, best first.
    pub videos: Vec<Listed>,
    /// Videos where every word is said in one cue: the video, the cue's start (ms), its
    /// words; best first.
    pub moments: Vec<(Listed, u64, String)>,
}

/// What a new video is, as its uploader says.
#[derive(Debug, Clone, Copy)]
pub struct NewVideo<'a> {
    /// Its title.
    pub title: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Who may see it.
    pub visibility: Visibility,
    /// The file's size in bytes.
    pub size: u64,
    /// The spoken language, when said.
    pub language: Option<&'a str>,
}

/// What a person edits.
#[derive(Debug, Default, Clone)]
pub struct VideoEdit {
    /// A new title.
    pub title: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new visibility.
    pub visibility: Option<Visibility>,
    /// The uploader's content flags (replacing theirs; moderation's stay).
    pub flags: Option<Vec<ContentFlag>>,
    /// The uploader's summary of what the flags are about.
    pub warning_summary: Option<String>,
}

/// The video use cases.
pub struct Videos {
    /// The state of record.
    pub db: Db,
    /// Uploads (a video starts as one).
    pub uploads: Arc<Uploads>,
    /// The asset use cases (playback ids, deletion).
    pub assets: Arc<Assets>,
    /// Word counts search ranks with (SQLite).
    pub search_counts: search::Frequencies,
}

impl Videos {
    /// Starts `owner`'s video of a `size`-byte file (spoken in `language`, if they said):
    /// the upload (its tus URL and an upload-only token for the browser) and the asset with
    /// the video row. Returns the video, the upload and the token (shown once).
    pub async fn create(
        &self,
        owner: &User,
        title: &str,
        description: &str,
        visibility: Visibility,
        size: u64,
        language: Option<&str>,
    ) -> Result<(Video, Upload, String), VideoError> {
        let fields = NewVideo {
            title,
            description,
            visibility,
            size,
            language,
        };
        let (video, upload, token) = self.start(owner, fields, None).await?;
        let token = token.ok_or_else(|| AppError::Store("no upload token was made".into()))?;
        Ok((video, upload, token))
    }

    /// Starts `owner`'s video from an object put straight into the bucket (S3 event
    /// intake): the upload starts complete (its bytes are the object, copied into the store
    /// as it finishes), and the asset and the video row are stored with `row`, the record of
    /// that object version, in one transaction. A version taken already is a conflict
    /// ([`AppError::Conflict`]) and makes nothing.
    pub async fn create_from_intake(
        &self,
        owner: &User,
        fields: NewVideo<'_>,
        source: IntakeSource,
        row: IntakeRow,
    ) -> Result<(Video, Upload), VideoError> {
        let (video, upload, _) = self.start(owner, fields, Some((source, row))).await?;
        Ok((video, upload))
    }

    async fn start(
        &self,
        owner: &User,
        fields: NewVideo<'_>,
        intake: Option<(IntakeSource, IntakeRow)>,
    ) -> Result<(Video, Upload, Option<String>), VideoError> {
        let video = Video {
            asset_id: String::new(),
            owner_id: owner.id.clone(),
            title: check_title(fields.title)?,
            description: check_description(fields.description)?,
            visibility: fields.visibility,
            created_at: now_rfc3339(),
            flags: Flags::NONE,
            warning_summary: String::new(),
        };
        if fields.size == 0 {
            return Err(VideoError::Empty);
        }
        if fields.size > self.uploads.config.max_size {
            return Err(VideoError::TooLarge(self.uploads.config.max_size));
        }
        let from_browser = intake.is_none();
        let new = NewUpload {
            length: Some(fields.size),
            metadata: BTreeMap::new(),
            passthrough: None,
            // The spoken language the captions backend is told (`MediaInputs::language_hint`).
            meta: fields
                .language
                .map(|l| BTreeMap::from([("language".to_string(), l.to_string())]))
                .unwrap_or_default(),
            tus_created: from_browser,
            with_token: from_browser,
            video: Some(video.clone()),
            intake,
        };
        let (upload, token) = ingest::create(&self.uploads, new).await?;
        let video = Video {
            asset_id: upload.asset_id.to_string(),
            ..video
        };
        self.playback_for(&upload.asset_id, fields.visibility)
            .await?;
        Ok((video, upload, token))
    }

    /// Makes asset `id`'s playback ids fit `visibility`: one public id for public and
    /// unlisted videos, one signed id for private ones (the other kind revoked).
    async fn playback_for(&self, id: &AssetId, visibility: Visibility) -> Result<(), VideoError> {
        let wanted = match visibility {
            Visibility::Private => PlaybackPolicy::Signed,
            Visibility::Public | Visibility::Unlisted => PlaybackPolicy::Public,
        };
        let asset = self.assets.asset(id).await?;
        if !asset.playback_ids.iter().any(|p| p.policy == wanted) {
            let added = PlaybackIdInfo {
                id: PlaybackId::generate(),
                policy: wanted,
            };
            self.assets
                .change_settled(id, Change::PlaybackAdded(added))
                .await?;
        }
        for p in asset.playback_ids.iter().filter(|p| p.policy != wanted) {
            self.assets
                .change_settled(id, Change::PlaybackRemoved(p.id.clone()))
                .await?;
        }
        Ok(())
    }

    /// The video public playback id `playback_id` plays, as a guest sees it (the embed page):
    /// not found for an unknown, revoked or signed id, or a video a guest may not see.
    pub async fn by_playback_id(&self, playback_id: &str) -> Result<Listed, VideoError> {
        if !sunomi_packager::names::is_valid_video_id(playback_id) {
            return Err(VideoError::NotFound);
        }
        let record = self
            .uploads
            .records
            .find::<sunomi_packager::playback::PlaybackRecord>(
                &sunomi_origin::layout::playback_record(playback_id),
            )
            .await
            .map_err(|e| AppError::Store(e.to_string()))?
            .ok_or(VideoError::NotFound)?
            .value;
        let listed = self.get(None, &record.video_id).await?;
        // The record is a projection of the asset: the asset decides whether it still holds.
        let current = listed
            .asset
            .playback_ids
            .iter()
            .any(|p| p.id.as_str() == playback_id && p.policy == PlaybackPolicy::Public);
        if !current {
            return Err(VideoError::NotFound);
        }
        Ok(listed)
    }

    /// Video `id` with its asset, as `viewer` may see it.
    pub async fn get(&self, viewer: Option<&User>, id: &str) -> Result<Listed, VideoError> {
        if AssetId::parse(id).is_err() {
            return Err(VideoError::NotFound);
        }
        match store::get(&self.db, id).await? {
            Some(l) if l.video.visible_to(viewer) => Ok(l),
            _ => Err(VideoError::NotFound),
        }
    }

    /// Video `id`'s poster image, for `viewer` (`None`: no poster yet).
    pub async fn poster(
        &self,
        viewer: Option<&User>,
        id: &str,
    ) -> Result<Option<bytes::Bytes>, VideoError> {
        use object_store::ObjectStoreExt;
        use sunomi_origin::layout;
        let listed = self.get(viewer, id).await?;
        let records = &self.uploads.records;
        let id = &listed.video.asset_id;
        // The manifest names the poster of the run that published the video.
        let manifest = match records
            .find::<sunomi_packager::manifest::Manifest>(&layout::video_key(id, layout::MANIFEST))
            .await
        {
            Ok(Some(m)) => m.value,
            Ok(None) => return Ok(None),
            Err(e) => return Err(AppError::Store(e.to_string()).into()),
        };
        let Some(poster) = manifest.poster else {
            return Ok(None);
        };
        let store = records.store();
        let key = layout::video_key(id, &poster);
        match store.object_store().get(&store.path(&key)).await {
            Ok(got) => Ok(Some(
                got.bytes()
                    .await
                    .map_err(|e| AppError::Store(e.to_string()))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(AppError::Store(e.to_string()).into()),
        }
    }

    /// Public, ready videos matching `query` for a viewer hiding `hidden`, ranked: those
    /// whose title, channel name or description has every word, then those where
    /// every word is said in one caption cue, each with that moment (start ms) and its words;
    /// at most 50 of each. A query is at most 100 characters and 8 words.
    pub async fn search(&self, query: &str, hidden: Flags) -> Result<Search, VideoError> {
        let query: String = query.chars().take(100).collect();
        let Some(terms) = Terms::words(&query) else {
            return Ok(Search::default());
        };
        // The two lookups are independent: each on its own connection, at once.
        let (videos, moments) = tokio::try_join!(
            search::videos(
                &self.db,
                &self.search_counts,
                &terms,
                hidden,
                SEARCH_RESULTS
            ),
            search::moments(
                &self.db,
                &self.search_counts,
                &terms,
                hidden,
                SEARCH_RESULTS
            ),
        )?;
        Ok(Search { videos, moments })
    }

    /// Up to 8 titles of public, ready videos matching what a viewer hiding `hidden` has
    /// typed so far (every word as a prefix), best first, without repeats.
    pub async fn suggestions(&self, typed: &str, hidden: Flags) -> Result<Vec<String>, VideoError> {
        let typed: String = typed.chars().take(100).collect();
        let Some(terms) = Terms::typed(&typed) else {
            return Ok(Vec::new());
        };
        let mut titles: Vec<String> = Vec::new();
        for l in search::videos(&self.db, &self.search_counts, &terms, hidden, 16).await? {
            if !titles.contains(&l.video.title) && titles.len() < 8 {
                titles.push(l.video.title);
            }
        }
        Ok(titles)
    }

    /// A page of public, ready videos without a flag in `hidden`, in `order`, and whether
    /// more follow.
    pub async fn public_page(
        &self,
        hidden: Flags,
        order: Order,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Listed>, bool), VideoError> {
        Ok(store::page(&self.db, Listing::Public(hidden, order), limit, offset).await?)
    }

    /// A page of `owner`'s videos in any state, newest first, and whether more follow.
    pub async fn owned_page(
        &self,
        owner: &User,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<Listed>, bool), VideoError> {
        Ok(store::page(&self.db, Listing::Owner(&owner.id), limit, offset).await?)
    }

    /// Video `id` as `user` may change it: not found when they may not see it, forbidden
    /// when they may see but not change it.
    pub async fn editable(&self, user: &User, id: &str) -> Result<Listed, VideoError> {
        let listed = self.get(Some(user), id).await?;
        if !listed.video.editable_by(user) {
            return Err(VideoError::Forbidden);
        }
        Ok(listed)
    }

    /// Applies `edit` to `user`'s video `id`.
    pub async fn update(
        &self,
        user: &User,
        id: &str,
        edit: VideoEdit,
    ) -> Result<Listed, VideoError> {
        let mut video = self.editable(user, id).await?.video;
        if let Some(t) = &edit.title {
            video.title = check_title(t)?;
        }
        if let Some(d) = &edit.description {
            video.description = check_description(d)?;
        }
        if let Some(flags) = &edit.flags {
            video.flags = flags.iter().copied().collect();
        }
        if let Some(s) = &edit.warning_summary {
            video.warning_summary = check_summary(s).ok_or(VideoInputError::Summary)?;
        }
        let asset_id = AssetId::parse(id).map_err(|_| VideoError::NotFound)?;
        if let Some(v) = edit.visibility {
            if v != video.visibility {
                // Made private: the public id is revoked (and every edge forgets it) before
                // the row says so; made public: the public id exists before it is listed.
                self.playback_for(&asset_id, v).await?;
                video.visibility = v;
            }
        }
        if !store::update(&self.db, &video).await? {
            return Err(VideoError::NotFound);
        }
        self.get(Some(user), id).await
    }

    /// Deletes `user`'s video `id` (its media and every edge's copy).
    pub async fn delete(&self, user: &User, id: &str) -> Result<(), VideoError> {
        self.editable(user, id).await?;
        let asset_id = AssetId::parse(id).map_err(|_| VideoError::NotFound)?;
        match self.assets.delete_asset(&asset_id).await {
            Ok(()) | Err(AppError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
