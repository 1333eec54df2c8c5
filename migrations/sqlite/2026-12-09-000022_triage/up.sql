-- Triage at volume: bulk changes name their operation in each entry they
-- write, cases relate to each other, and a merged case remembers its target.

-- The bulk change or merge an audit entry was written by (null for a single change).
ALTER TABLE activity ADD COLUMN operation_id TEXT;

-- The case this one was merged into; set once, by the merge that closed it.
ALTER TABLE cases ADD COLUMN merged_into BIGINT;

-- A parent case may close only once its children are closed (off by default).
ALTER TABLE workflow_settings ADD COLUMN require_closed_children BOOLEAN NOT NULL DEFAULT 0;

-- How a merge closes its sources when the call does not say.
ALTER TABLE workflow_settings ADD COLUMN duplicate_classification TEXT NOT NULL DEFAULT 'UNDETERMINED';
ALTER TABLE workflow_settings ADD COLUMN duplicate_determination TEXT;

-- One row per direction: `A PARENT_OF B` is stored with `B CHILD_OF A`, so
-- each case reads its relations by its own key. One relation per pair.
CREATE TABLE case_relations (
    tenant_id   TEXT NOT NULL,
    case_id     BIGINT NOT NULL,
    related_id  BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('RELATED_TO', 'DUPLICATE_OF', 'DUPLICATED_BY', 'PARENT_OF', 'CHILD_OF', 'BLOCKS', 'BLOCKED_BY')),
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, case_id, related_id),
    CHECK (case_id <> related_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, related_id) REFERENCES cases (tenant_id, id)
);
-- `relatedTo` and `parentId` filters: who points at a case, by kind.
CREATE INDEX case_relations_pointing_at ON case_relations (tenant_id, related_id, kind);
-- One parent per case, whatever the writers race.
CREATE UNIQUE INDEX case_relations_one_parent ON case_relations (tenant_id, case_id) WHERE kind = 'CHILD_OF';
-- One surviving case per duplicate.
CREATE UNIQUE INDEX case_relations_one_original ON case_relations (tenant_id, case_id) WHERE kind = 'DUPLICATE_OF';
