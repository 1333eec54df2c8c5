DROP INDEX search_entries_entities;
