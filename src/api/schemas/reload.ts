/** POST /reload: what a reload changed. */
import Type from "typebox";

const Ids = Type.Array(Type.String());

export const ReloadResponse = Type.Object({ added: Ids, removed: Ids, changed: Ids, unchanged: Ids });
