#!/bin/sh
# Run by the official postgres image once, when it initialises an empty volume
# (/docker-entrypoint-initdb.d): the owner role, which runs the migrations, and the application's
# role, from deploy/postgres/roles.sql with the passwords docker-compose.yml passes.
# A volume made before the two roles existed: run it once by hand, as that volume's superuser:
#   docker compose exec -e POSTGRES_USER=pvp db sh /docker-entrypoint-initdb.d/10-roles.sh
# (No `set -u`: the image sources this file instead of running it when it is not executable.)
: "${PVP_OWNER_PASSWORD:?set PVP_OWNER_PASSWORD, the password of the owner role}"
: "${PVP_APP_PASSWORD:?set PVP_APP_PASSWORD, the password of the application role}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="${PVP_OWNER_ROLE:-pvp_owner}" -v app="${PVP_APP_ROLE:-pvp_app}" \
    -v owner_password="$PVP_OWNER_PASSWORD" -v app_password="$PVP_APP_PASSWORD" \
    -f "${PVP_ROLES_SQL:-/etc/pvp/roles.sql}"
