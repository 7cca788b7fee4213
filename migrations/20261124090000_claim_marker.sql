-- `claimed_at` is set exactly while a delivery is in `sending`: it names the
-- claim. An outcome then finds its row by primary key and claim alone
-- (`id = $1 AND claimed_at = $2`), which the planner serves from the primary
-- key, instead of walking `deliveries_sending`, whose entries for rows that
-- left `sending` stay behind until vacuum.
UPDATE deliveries SET claimed_at = NULL WHERE status <> 'sending' AND claimed_at IS NOT NULL;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_claim_marks_sending
    CHECK ((status = 'sending') = (claimed_at IS NOT NULL));
