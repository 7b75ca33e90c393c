/* json.c — building cJSON values that notice running out of memory: cJSON returns NULL from every
 * Create/Add when an allocation fails, so a writer adds every field and checks once at the end. */
#include <cjson/cJSON.h>

#include "base/base.h"

QbJson qb_json_object(void) {
    QbJson o = {cJSON_CreateObject(), 1};
    o.ok = o.j != NULL;
    return o;
}

QbJson qb_json_array(void) {
    QbJson o = {cJSON_CreateArray(), 1};
    o.ok = o.j != NULL;
    return o;
}

void qb_json_num(QbJson *o, const char *key, double v) { qb_json_add(o, key, cJSON_CreateNumber(v)); }
void qb_json_bool(QbJson *o, const char *key, int v) { qb_json_add(o, key, cJSON_CreateBool(v)); }
void qb_json_str(QbJson *o, const char *key, const char *v) { qb_json_add(o, key, cJSON_CreateString(v)); }

void qb_json_add(QbJson *o, const char *key, struct cJSON *item) {
    int added = o->j && item && (key ? cJSON_AddItemToObject(o->j, key, item) : cJSON_AddItemToArray(o->j, item));
    if (!added) {
        cJSON_Delete(item); /* not attached: still the caller's, now freed */
        o->ok = 0;
    }
}

struct cJSON *qb_json_finish(QbJson *o) {
    if (o->ok) return o->j;
    cJSON_Delete(o->j);
    o->j = NULL;
    return NULL;
}
