-- The audit log is append-only: updates are refused, and a row may only be
-- deleted once it is older than 180 days (Cybersecurity Law art. 21).
CREATE FUNCTION identity_audit_guard() RETURNS trigger AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		RAISE EXCEPTION 'audit log is append-only';
	END IF;
	IF OLD.at > (EXTRACT(EPOCH FROM now())::BIGINT - 180*86400) * 1000 THEN
		RAISE EXCEPTION 'audit records are kept at least 180 days';
	END IF;
	RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER identity_audit_guard BEFORE UPDATE OR DELETE ON identity_audit
FOR EACH ROW EXECUTE FUNCTION identity_audit_guard();
