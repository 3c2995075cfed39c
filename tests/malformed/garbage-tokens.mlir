%%% @@ !! ]]] {{ attnres.forward ( -> :: 0x 1e99999 #attnres< ^bb
