// hookhub browser client
