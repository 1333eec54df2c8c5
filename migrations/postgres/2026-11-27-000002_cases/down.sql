DROP TABLE activity;
DROP TABLE case_incidents;
DROP TABLE incidents;
DROP TABLE tasks;
DROP TABLE cases;
