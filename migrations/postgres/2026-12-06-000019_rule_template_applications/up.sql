-- A template an automation rule applied to a case: a rule applies each of
-- its templates once per case, however often its trigger fires again.
CREATE TABLE rule_template_applications (
    tenant_id   TEXT NOT NULL,
    case_id     BIGINT NOT NULL,
    rule_id     BIGINT NOT NULL,
    template_id BIGINT NOT NULL,
    applied_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, case_id, rule_id, template_id)
);
