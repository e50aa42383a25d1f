-- Leases that ran out are found by (state, lease_until): few rows are
-- leased at any time, so this stays a short index range however many
-- marks an exam has. Expiring them before a task is handed out, and the
-- examiner workspace's "is there a task for me" check, both read it.
CREATE INDEX exam_marking_marks_lease ON exam_marking_marks (state, lease_until);
