/// The PostgreSQL schema of a Backstop ledger: one table of entries, and the triggers with
/// which the database itself refuses what would break the chain. `Docs/postgres.sql` holds
/// the same statements (a test keeps the two equal), for a database administrator to read
/// and apply by hand.
public enum PostgresSchema {
    /// The statements, in order; each is idempotent, so applying them again is harmless.
    public static let statements: [String] = [
        """
        CREATE TABLE IF NOT EXISTS public.backstop_entries (
            fund bytea  NOT NULL CHECK (length(fund) = 32),
            seq  bigint NOT NULL CHECK (seq >= 0),
            hash bytea  NOT NULL CHECK (length(hash) = 32),
            prev bytea  NOT NULL CHECK (length(prev) = 32),
            line bytea  NOT NULL CHECK (length(line) BETWEEN 2 AND 1048576),
            PRIMARY KEY (fund, seq)
        )
        """,
        """
        CREATE OR REPLACE FUNCTION public.backstop_check_entry() RETURNS trigger LANGUAGE plpgsql
            SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            tail text[];
            previous bytea;
        BEGIN
            -- search_path is pinned (above) and the table named with its schema, so that a
            -- session cannot shadow either with a temporary table or a function of its own.
            -- The members after the body have a fixed form (Docs/FORMAT.md, section 3), so
            -- the end of the line names its prev and seq without parsing the body.
            tail := regexp_match(convert_from(NEW.line, 'UTF8'),
                ',"kind":"[a-z][a-z0-9-]{0,63}","prev":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,17}),"signatures":\\[[^]]*\\],"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"\\}$');
            IF tail IS NULL THEN
                RAISE EXCEPTION 'backstop: entry % is not a ledger line', NEW.seq USING ERRCODE = 'check_violation';
            END IF;
            IF decode(tail[1], 'hex') <> NEW.prev OR tail[2]::bigint <> NEW.seq THEN
                RAISE EXCEPTION 'backstop: entry % holds another seq or prev than its columns', NEW.seq USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.hash <> sha256('\\x00'::bytea || NEW.line) THEN
                RAISE EXCEPTION 'backstop: entry % hash is not SHA-256(0x00 || line)', NEW.seq USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.seq = 0 THEN
                IF NEW.prev <> decode(repeat('00', 32), 'hex') OR NEW.fund <> NEW.hash THEN
                    RAISE EXCEPTION 'backstop: entry 0 must have a zero prev and name its fund' USING ERRCODE = 'check_violation';
                END IF;
            ELSE
                SELECT hash INTO previous FROM public.backstop_entries WHERE fund = NEW.fund AND seq = NEW.seq - 1;
                IF previous IS NULL OR previous <> NEW.prev THEN
                    RAISE EXCEPTION 'backstop: entry % does not link to entry %', NEW.seq, NEW.seq - 1 USING ERRCODE = 'check_violation';
                END IF;
            END IF;
            RETURN NEW;
        END
        $$
        """,
        """
        CREATE OR REPLACE FUNCTION public.backstop_refuse_change() RETURNS trigger LANGUAGE plpgsql
            SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            RAISE EXCEPTION 'backstop: the ledger is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """,
        """
        CREATE OR REPLACE TRIGGER backstop_entries_insert BEFORE INSERT ON public.backstop_entries
            FOR EACH ROW EXECUTE FUNCTION public.backstop_check_entry()
        """,
        """
        CREATE OR REPLACE TRIGGER backstop_entries_append_only BEFORE UPDATE OR DELETE ON public.backstop_entries
            FOR EACH ROW EXECUTE FUNCTION public.backstop_refuse_change()
        """,
        """
        CREATE OR REPLACE TRIGGER backstop_entries_no_truncate BEFORE TRUNCATE ON public.backstop_entries
            FOR EACH STATEMENT EXECUTE FUNCTION public.backstop_refuse_change()
        """,
        """
        REVOKE UPDATE, DELETE, TRUNCATE ON public.backstop_entries FROM PUBLIC
        """,
    ]

    /// The statements as one SQL script (what `Docs/postgres.sql` holds after its comment).
    public static var script: String {
        statements.map { $0 + ";\n" }.joined(separator: "\n")
    }
}
