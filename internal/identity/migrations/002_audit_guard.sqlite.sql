-- The audit log is append-only: updates are refused, and a row may only be
-- deleted once it is older than 180 days (Cybersecurity Law art. 21).
CREATE TRIGGER identity_audit_no_update BEFORE UPDATE ON identity_audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER identity_audit_keep_180_days BEFORE DELETE ON identity_audit
WHEN OLD.at > (CAST(strftime('%s','now') AS INTEGER) - 180*86400) * 1000
BEGIN
	SELECT RAISE(ABORT, 'audit records are kept at least 180 days');
END;
