-- What lists and search ask of an asset — is it ready, which moderation flags — answered
-- from a small covering index instead of the rows that hold whole asset documents (a search
-- checks up to a thousand candidates). Keep in step with ../sqlite/0016_asset_listing_index.sql.
CREATE INDEX assets_listing ON assets (id, status, flags);
