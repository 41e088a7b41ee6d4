-- Every write of an asset is announced on the channel `sunomi_assets` with its id, after
-- its transaction commits: API processes drop their in-memory copy of it
-- (control/src/db/cache.rs). A trigger, so no writer — a control process, an import, an
-- operator's SQL — can change an asset unannounced.
-- SQLite has no notifications: ../sqlite/0006_asset_notifications.sql does nothing.
CREATE FUNCTION sunomi_notify_asset() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('sunomi_assets', OLD.id);
    ELSE
        PERFORM pg_notify('sunomi_assets', NEW.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER assets_notify AFTER INSERT OR UPDATE OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION sunomi_notify_asset();
