-- The key of the last resend command applied to a delivery (its AMQP
-- message_id, else a hash of its body): the same resend handed out again
-- by RabbitMQ after its ack was lost starts no second round.
ALTER TABLE deliveries ADD COLUMN last_resend_key uuid;
