-- The reference API's checkpoint label is 1..120 characters (our `name` rule stays 1..100
-- bytes, enforced by the node); one column holds both, so its check allows the longer form.
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_name_length,
	ADD CONSTRAINT checkpoints_name_length CHECK (char_length(name) BETWEEN 1 AND 120);
