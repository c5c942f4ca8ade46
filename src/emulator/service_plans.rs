//! The service plans of the SKUs the emulator offers (`sku_id_for` in model.rs), with
//! the names and ids of Microsoft's "Product names and service plan identifiers for
//! licensing" list (entra-docs docs/identity/users/licensing-service-plan-reference.md).
//! ENTERPRISEPACK and SPE_E3 follow the page as updated on October 29, 2025; the other
//! SKUs follow the CSV download of the same list (August 2023 edition), so newer plans
//! Microsoft added since may be missing from them. Data only.

/// Office 365 E3 (`ENTERPRISEPACK`), 36 plans (reference page, 2025-10-29).
pub const ENTERPRISEPACK: &[(&str, &str)] = &[
    (
        "MESH_AVATARS_FOR_TEAMS",
        "dcf9d2f4-772e-4434-b757-77a453cfbc02",
    ),
    (
        "MESH_AVATARS_ADDITIONAL_FOR_TEAMS",
        "3efbd4ed-8958-4824-8389-1321f8730af8",
    ),
    ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
    (
        "Bing_Chat_Enterprise",
        "0d0c0d31-fae7-41f2-b909-eaf4d7f26dba",
    ),
    ("CDS_O365_P2", "95b76021-6a53-4741-ab8b-1d1f3d66a95a"),
    (
        "EXCHANGE_S_ENTERPRISE",
        "efb87545-963c-4e0d-99df-69c6916d9eb0",
    ),
    (
        "MESH_IMMERSIVE_FOR_TEAMS",
        "f0ff6ac6-297d-49cd-be34-6dfef97f0c28",
    ),
    (
        "ContentExplorer_Standard",
        "2b815d45-56e4-4e3a-b65c-66cb9175b560",
    ),
    ("MIP_S_CLP1", "5136a095-5cf0-4aff-bec3-e84448b38ea5"),
    ("MYANALYTICS_P2", "33c4f319-9bdd-48d6-9c4d-410b750a4a5a"),
    ("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38"),
    (
        "M365_LIGHTHOUSE_CUSTOMER_PLAN1",
        "6f23d6a9-adbf-481c-8538-b4c095654487",
    ),
    ("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2"),
    ("FORMS_PLAN_E3", "2789c901-c14e-48ab-a76a-be334d9d793a"),
    ("KAIZALA_O365_P3", "aebd3021-9f8f-4bf8-bbe3-0ed2f4f047a1"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("MICROSOFT_SEARCH", "94065c59-bc8e-4e8b-89e5-5138d471eaff"),
    ("Deskless", "8c7d2df8-86f0-4902-b2ed-a0458298f3b3"),
    ("STREAM_O365_E3", "9e700747-8b1d-45e5-ab8d-ef187ceec156"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("INTUNE_O365", "882e1d05-acd1-4ccb-8708-6ee03664b117"),
    ("Nucleus", "db4d623d-b514-490b-b7ef-8885eee514de"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    ("PROJECT_O365_P2", "31b4e2fc-4cd6-4e7d-9c1b-41407303bd66"),
    (
        "SHAREPOINTENTERPRISE",
        "5dbe027f-2339-4123-9542-606e4d348a72",
    ),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("BPOS_S_TODO_2", "c87f142c-d1e9-4363-8630-aaea9c4d9ae5"),
    ("VIVAENGAGE_CORE", "a82fbf69-b4d7-49f4-83a6-915b2cf354f4"),
    (
        "VIVA_LEARNING_SEEDED",
        "b76fb638-6ba6-402a-b9f9-83d28acb3d86",
    ),
    ("WHITEBOARD_PLAN2", "94a54592-cd8b-425e-87c6-97868b000b91"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
    ("DYN365_CDS_O365_P2", "4ff01e01-1ba7-4d71-8cf8-ce96c3bbcf14"),
    ("POWERAPPS_O365_P2", "c68f8d98-5534-41c8-bf36-22fa496fa792"),
    ("FLOW_O365_P2", "76846ad7-7776-4c40-a281-a386362dd1b9"),
    (
        "POWER_VIRTUAL_AGENTS_O365_P2",
        "041fe683-03e4-45b6-b1af-c0cdc516daee",
    ),
];

/// Microsoft 365 E3 (`SPE_E3`), 50 plans (reference page, 2025-10-29).
pub const SPE_E3: &[(&str, &str)] = &[
    (
        "MESH_AVATARS_FOR_TEAMS",
        "dcf9d2f4-772e-4434-b757-77a453cfbc02",
    ),
    (
        "MESH_AVATARS_ADDITIONAL_FOR_TEAMS",
        "3efbd4ed-8958-4824-8389-1321f8730af8",
    ),
    ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
    ("CDS_O365_P2", "95b76021-6a53-4741-ab8b-1d1f3d66a95a"),
    (
        "EXCHANGE_S_ENTERPRISE",
        "efb87545-963c-4e0d-99df-69c6916d9eb0",
    ),
    (
        "GRAPH_CONNECTORS_SEARCH_INDEX",
        "a6520331-d7d4-4276-95f5-15c0933bc757",
    ),
    (
        "MESH_IMMERSIVE_FOR_TEAMS",
        "f0ff6ac6-297d-49cd-be34-6dfef97f0c28",
    ),
    (
        "ContentExplorer_Standard",
        "2b815d45-56e4-4e3a-b65c-66cb9175b560",
    ),
    ("MIP_S_CLP1", "5136a095-5cf0-4aff-bec3-e84448b38ea5"),
    ("MYANALYTICS_P2", "33c4f319-9bdd-48d6-9c4d-410b750a4a5a"),
    ("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38"),
    (
        "M365_LIGHTHOUSE_CUSTOMER_PLAN1",
        "6f23d6a9-adbf-481c-8538-b4c095654487",
    ),
    (
        "M365_LIGHTHOUSE_PARTNER_PLAN1",
        "d55411c9-cfff-40a9-87c7-240f14df7da5",
    ),
    ("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2"),
    ("CLIPCHAMP", "a1ace008-72f3-4ea0-8dac-33b3a23a2472"),
    ("MDE_LITE", "292cc034-7b7c-4950-aaf5-943befd3f1d4"),
    ("FORMS_PLAN_E3", "2789c901-c14e-48ab-a76a-be334d9d793a"),
    ("KAIZALA_O365_P3", "aebd3021-9f8f-4bf8-bbe3-0ed2f4f047a1"),
    ("MICROSOFT_LOOP", "c4b8c31a-fb44-4c65-9837-a21f55fcabda"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("MICROSOFT_SEARCH", "94065c59-bc8e-4e8b-89e5-5138d471eaff"),
    ("Deskless", "8c7d2df8-86f0-4902-b2ed-a0458298f3b3"),
    ("STREAM_O365_E3", "9e700747-8b1d-45e5-ab8d-ef187ceec156"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("INTUNE_O365", "882e1d05-acd1-4ccb-8708-6ee03664b117"),
    ("Nucleus", "db4d623d-b514-490b-b7ef-8885eee514de"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    ("PROJECT_O365_P2", "31b4e2fc-4cd6-4e7d-9c1b-41407303bd66"),
    (
        "Bing_Chat_Enterprise",
        "0d0c0d31-fae7-41f2-b909-eaf4d7f26dba",
    ),
    (
        "SHAREPOINTENTERPRISE",
        "5dbe027f-2339-4123-9542-606e4d348a72",
    ),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("BPOS_S_TODO_2", "c87f142c-d1e9-4363-8630-aaea9c4d9ae5"),
    ("VIVAENGAGE_CORE", "a82fbf69-b4d7-49f4-83a6-915b2cf354f4"),
    (
        "VIVA_LEARNING_SEEDED",
        "b76fb638-6ba6-402a-b9f9-83d28acb3d86",
    ),
    ("WHITEBOARD_PLAN2", "94a54592-cd8b-425e-87c6-97868b000b91"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
    ("UNIVERSAL_PRINT_01", "795f6fe0-cc4d-4773-b050-5dde4dc704c9"),
    ("WIN10_PRO_ENT_SUB", "21b439ba-a0ca-424f-a6cc-52f954a5b111"),
    ("Windows_Autopatch", "9a6eeb79-0b4b-4bf0-9808-39d99a2cd5a3"),
    (
        "WINDOWSUPDATEFORBUSINESS_DEPLOYMENTSERVICE",
        "7bf960f6-2cd9-443a-8046-5dbff9558365",
    ),
    ("RMS_S_PREMIUM", "6c57d4b6-3b23-47a5-9bc9-69f17b4947b3"),
    ("DYN365_CDS_O365_P2", "4ff01e01-1ba7-4d71-8cf8-ce96c3bbcf14"),
    ("MFA_PREMIUM", "8a256a2b-b617-496d-b51b-e76466e88db0"),
    (
        "ADALLOM_S_DISCOVERY",
        "932ad362-64a8-4783-9106-97849a1a30b9",
    ),
    ("AAD_PREMIUM", "41781fb2-bc02-4b7c-bd55-b576c07bb09d"),
    ("INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"),
    ("POWERAPPS_O365_P2", "c68f8d98-5534-41c8-bf36-22fa496fa792"),
    ("FLOW_O365_P2", "76846ad7-7776-4c40-a281-a386362dd1b9"),
    (
        "POWER_VIRTUAL_AGENTS_O365_P2",
        "041fe683-03e4-45b6-b1af-c0cdc516daee",
    ),
];

/// Office 365 E1 (`STANDARDPACK`), 29 plans (CSV, 2023-08).
pub const STANDARDPACK: &[(&str, &str)] = &[
    ("CDS_O365_P1", "bed136c6-b799-4462-824d-fc045d3a9d25"),
    (
        "EXCHANGE_S_STANDARD",
        "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    ),
    ("MYANALYTICS_P2", "33c4f319-9bdd-48d6-9c4d-410b750a4a5a"),
    ("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2"),
    ("FORMS_PLAN_E1", "159f4cd6-e380-449f-a816-af1a9ef76344"),
    ("KAIZALA_O365_P2", "54fc630f-5a40-48ee-8965-af0503c1386e"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("MICROSOFT_SEARCH", "94065c59-bc8e-4e8b-89e5-5138d471eaff"),
    ("Deskless", "8c7d2df8-86f0-4902-b2ed-a0458298f3b3"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("INTUNE_O365", "882e1d05-acd1-4ccb-8708-6ee03664b117"),
    ("Nucleus", "db4d623d-b514-490b-b7ef-8885eee514de"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    (
        "OFFICEMOBILE_SUBSCRIPTION",
        "c63d4d19-e8cb-460e-b37c-4d6c34603745",
    ),
    ("PROJECT_O365_P1", "a55dfd10-0864-46d9-a3cd-da5991a3e0e2"),
    ("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("BPOS_S_TODO_1", "5e62787c-c316-451f-b873-1d05acd4d12c"),
    (
        "VIVA_LEARNING_SEEDED",
        "b76fb638-6ba6-402a-b9f9-83d28acb3d86",
    ),
    ("WHITEBOARD_PLAN1", "b8afc642-032e-4de5-8c0a-507a7bba7e5d"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
    ("DYN365_CDS_O365_P1", "40b010bb-0b69-4654-ac5e-ba161433f4b4"),
    ("RMS_S_BASIC", "31cf2cfc-6b0d-4adc-a336-88b724ed8122"),
    ("STREAM_O365_E1", "743dd19e-1ce3-4c62-a3ad-49ba8f63a2f6"),
    ("POWERAPPS_O365_P1", "92f7a6f3-b89b-4bbd-8c30-809e6da5ad1c"),
    ("FLOW_O365_P1", "0f9b09cb-62d1-4ff4-9129-43f4996f83f4"),
    (
        "POWER_VIRTUAL_AGENTS_O365_P1",
        "0683001c-0492-4d59-9515-d9a6426b5813",
    ),
    ("VIVAENGAGE_CORE", "a82fbf69-b4d7-49f4-83a6-915b2cf354f4"),
];

/// Office 365 E5 (`ENTERPRISEPREMIUM`), 56 plans (CSV, 2023-08).
pub const ENTERPRISEPREMIUM: &[(&str, &str)] = &[
    ("DYN365_CDS_O365_P3", "28b0fa46-c39a-4188-89e2-58e979a6b014"),
    ("CDS_O365_P3", "afa73018-811e-46e9-988f-f75d2b1b8430"),
    ("LOCKBOX_ENTERPRISE", "9f431833-0334-42de-a7dc-70aa40db46db"),
    ("MIP_S_Exchange", "cd31b152-6326-4d1b-ae1b-997b625182e6"),
    (
        "EXCHANGE_S_ENTERPRISE",
        "efb87545-963c-4e0d-99df-69c6916d9eb0",
    ),
    (
        "GRAPH_CONNECTORS_SEARCH_INDEX",
        "a6520331-d7d4-4276-95f5-15c0933bc757",
    ),
    (
        "INFORMATION_BARRIERS",
        "c4801e8a-cb58-4c35-aca6-f2dcc106f287",
    ),
    ("Content_Explorer", "d9fa6af4-e046-4c89-9226-729a0786685d"),
    (
        "ContentExplorer_Standard",
        "2b815d45-56e4-4e3a-b65c-66cb9175b560",
    ),
    ("MIP_S_CLP2", "efb0351d-3b08-4503-993d-383af8de41e3"),
    ("MIP_S_CLP1", "5136a095-5cf0-4aff-bec3-e84448b38ea5"),
    ("MYANALYTICS_P2", "33c4f319-9bdd-48d6-9c4d-410b750a4a5a"),
    (
        "MICROSOFT_COMMUNICATION_COMPLIANCE",
        "a413a9ff-720c-4822-98ef-2f37c2a21f4c",
    ),
    (
        "M365_ADVANCED_AUDITING",
        "2f442157-a11c-46b9-ae5b-6e39ff4e5849",
    ),
    ("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38"),
    ("MCOMEETADV", "3e26ee1f-8a5f-4d52-aee2-b81ce45c8f40"),
    ("MTP", "bf28f719-7844-4079-9c78-c1307898e192"),
    ("MCOEV", "4828c8ec-dc2e-4779-b502-87ac9ce28ab7"),
    ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
    ("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2"),
    ("COMMUNICATIONS_DLP", "6dc145d6-95dd-4191-b9c3-185575ee6f6b"),
    ("CUSTOMER_KEY", "6db1f1db-2b46-403f-be40-e39395f08dbb"),
    (
        "DATA_INVESTIGATIONS",
        "46129a58-a698-46f0-aa5b-17f6586297d9",
    ),
    ("ATP_ENTERPRISE", "f20fedf3-f3c3-43c3-8267-2bfdd51c0939"),
    (
        "THREAT_INTELLIGENCE",
        "8e0c0a52-6a6c-4d40-8370-dd62790dcd70",
    ),
    ("EXCEL_PREMIUM", "531ee2f8-b1cb-453b-9c21-d2180d014ca5"),
    ("FORMS_PLAN_E5", "e212cbc7-0961-4c40-9825-01117710dcb1"),
    ("INFO_GOVERNANCE", "e26c2fcc-ab91-4a61-b35c-03cdc8dddf66"),
    ("KAIZALA_STANDALONE", "0898bdbb-73b0-471a-81e5-20f1fe4dd66e"),
    ("EXCHANGE_ANALYTICS", "34c0d7a0-a70f-4668-9238-47f9fc208882"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("RECORDS_MANAGEMENT", "65cc641f-cccd-4643-97e0-a17e3045e541"),
    ("MICROSOFT_SEARCH", "94065c59-bc8e-4e8b-89e5-5138d471eaff"),
    ("Deskless", "8c7d2df8-86f0-4902-b2ed-a0458298f3b3"),
    ("STREAM_O365_E5", "6c6042f5-6f01-4d67-b8c1-eb99d36eed3e"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("INTUNE_O365", "882e1d05-acd1-4ccb-8708-6ee03664b117"),
    ("EQUIVIO_ANALYTICS", "4de31727-a228-4ec3-a5bf-8e45b5ca48cc"),
    ("ADALLOM_S_O365", "8c098270-9dd4-4350-9b30-ba4703f3b36b"),
    ("PAM_ENTERPRISE", "b1188c4c-1b36-4018-b48b-ee07604f6feb"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    ("FLOW_O365_P3", "07699545-9485-468e-95b6-2fca3738be01"),
    ("BI_AZURE_P2", "70d33638-9c74-4d01-bfd3-562de28bd4ba"),
    (
        "POWER_VIRTUAL_AGENTS_O365_P3",
        "ded3d325-1bdc-453e-8432-5bac26d7a014",
    ),
    ("POWERAPPS_O365_P3", "9c0dab89-a30c-4117-86e7-97bda240acd2"),
    ("PREMIUM_ENCRYPTION", "617b097b-4b93-4ede-83de-5f075bb5fb2f"),
    ("PROJECT_O365_P3", "b21a6b06-1988-436e-a07b-51ec6d9f52ad"),
    (
        "COMMUNICATIONS_COMPLIANCE",
        "41fcdd7d-4733-4863-9cf4-c65b83ce2df4",
    ),
    (
        "SHAREPOINTENTERPRISE",
        "5dbe027f-2339-4123-9542-606e4d348a72",
    ),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("BPOS_S_TODO_3", "3fb82609-8c27-4f7b-bd51-30634711ee67"),
    ("VIVAENGAGE_CORE", "a82fbf69-b4d7-49f4-83a6-915b2cf354f4"),
    (
        "VIVA_LEARNING_SEEDED",
        "b76fb638-6ba6-402a-b9f9-83d28acb3d86",
    ),
    ("WHITEBOARD_PLAN3", "4a51bca5-1eff-43f5-878c-177680f191af"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
];

/// Microsoft 365 E5 (`SPE_E5`), 76 plans (CSV, 2023-08).
pub const SPE_E5: &[(&str, &str)] = &[
    ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
    ("CDS_O365_P3", "afa73018-811e-46e9-988f-f75d2b1b8430"),
    ("LOCKBOX_ENTERPRISE", "9f431833-0334-42de-a7dc-70aa40db46db"),
    ("MIP_S_Exchange", "cd31b152-6326-4d1b-ae1b-997b625182e6"),
    (
        "EXCHANGE_S_ENTERPRISE",
        "efb87545-963c-4e0d-99df-69c6916d9eb0",
    ),
    (
        "GRAPH_CONNECTORS_SEARCH_INDEX",
        "a6520331-d7d4-4276-95f5-15c0933bc757",
    ),
    (
        "INFORMATION_BARRIERS",
        "c4801e8a-cb58-4c35-aca6-f2dcc106f287",
    ),
    ("Content_Explorer", "d9fa6af4-e046-4c89-9226-729a0786685d"),
    (
        "ContentExplorer_Standard",
        "2b815d45-56e4-4e3a-b65c-66cb9175b560",
    ),
    ("MIP_S_CLP2", "efb0351d-3b08-4503-993d-383af8de41e3"),
    ("MIP_S_CLP1", "5136a095-5cf0-4aff-bec3-e84448b38ea5"),
    ("MYANALYTICS_P2", "33c4f319-9bdd-48d6-9c4d-410b750a4a5a"),
    (
        "M365_ADVANCED_AUDITING",
        "2f442157-a11c-46b9-ae5b-6e39ff4e5849",
    ),
    ("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38"),
    ("MCOMEETADV", "3e26ee1f-8a5f-4d52-aee2-b81ce45c8f40"),
    (
        "MICROSOFT_COMMUNICATION_COMPLIANCE",
        "a413a9ff-720c-4822-98ef-2f37c2a21f4c",
    ),
    ("MTP", "bf28f719-7844-4079-9c78-c1307898e192"),
    (
        "M365_LIGHTHOUSE_CUSTOMER_PLAN1",
        "6f23d6a9-adbf-481c-8538-b4c095654487",
    ),
    ("MCOEV", "4828c8ec-dc2e-4779-b502-87ac9ce28ab7"),
    ("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2"),
    ("COMMUNICATIONS_DLP", "6dc145d6-95dd-4191-b9c3-185575ee6f6b"),
    ("CUSTOMER_KEY", "6db1f1db-2b46-403f-be40-e39395f08dbb"),
    (
        "DATA_INVESTIGATIONS",
        "46129a58-a698-46f0-aa5b-17f6586297d9",
    ),
    ("ATP_ENTERPRISE", "f20fedf3-f3c3-43c3-8267-2bfdd51c0939"),
    (
        "THREAT_INTELLIGENCE",
        "8e0c0a52-6a6c-4d40-8370-dd62790dcd70",
    ),
    ("EXCEL_PREMIUM", "531ee2f8-b1cb-453b-9c21-d2180d014ca5"),
    ("FORMS_PLAN_E5", "e212cbc7-0961-4c40-9825-01117710dcb1"),
    ("INFO_GOVERNANCE", "e26c2fcc-ab91-4a61-b35c-03cdc8dddf66"),
    ("INSIDER_RISK", "d587c7a3-bda9-4f99-8776-9bcf59c84f75"),
    ("KAIZALA_STANDALONE", "0898bdbb-73b0-471a-81e5-20f1fe4dd66e"),
    ("ML_CLASSIFICATION", "d2d51368-76c9-4317-ada2-a12c004c432f"),
    ("EXCHANGE_ANALYTICS", "34c0d7a0-a70f-4668-9238-47f9fc208882"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("RECORDS_MANAGEMENT", "65cc641f-cccd-4643-97e0-a17e3045e541"),
    ("MICROSOFT_SEARCH", "94065c59-bc8e-4e8b-89e5-5138d471eaff"),
    ("Deskless", "8c7d2df8-86f0-4902-b2ed-a0458298f3b3"),
    ("STREAM_O365_E5", "6c6042f5-6f01-4d67-b8c1-eb99d36eed3e"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("INTUNE_O365", "882e1d05-acd1-4ccb-8708-6ee03664b117"),
    ("Nucleus", "db4d623d-b514-490b-b7ef-8885eee514de"),
    ("EQUIVIO_ANALYTICS", "4de31727-a228-4ec3-a5bf-8e45b5ca48cc"),
    ("ADALLOM_S_O365", "8c098270-9dd4-4350-9b30-ba4703f3b36b"),
    ("PAM_ENTERPRISE", "b1188c4c-1b36-4018-b48b-ee07604f6feb"),
    ("SAFEDOCS", "bf6f5520-59e3-4f82-974b-7dbbc4fd27c7"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    ("POWERAPPS_O365_P3", "9c0dab89-a30c-4117-86e7-97bda240acd2"),
    ("BI_AZURE_P2", "70d33638-9c74-4d01-bfd3-562de28bd4ba"),
    ("PREMIUM_ENCRYPTION", "617b097b-4b93-4ede-83de-5f075bb5fb2f"),
    ("PROJECT_O365_P3", "b21a6b06-1988-436e-a07b-51ec6d9f52ad"),
    (
        "COMMUNICATIONS_COMPLIANCE",
        "41fcdd7d-4733-4863-9cf4-c65b83ce2df4",
    ),
    (
        "INSIDER_RISK_MANAGEMENT",
        "9d0c4ee5-e4a1-4625-ab39-d82b619b1a34",
    ),
    (
        "SHAREPOINTENTERPRISE",
        "5dbe027f-2339-4123-9542-606e4d348a72",
    ),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("BPOS_S_TODO_3", "3fb82609-8c27-4f7b-bd51-30634711ee67"),
    (
        "VIVA_LEARNING_SEEDED",
        "b76fb638-6ba6-402a-b9f9-83d28acb3d86",
    ),
    ("WHITEBOARD_PLAN3", "4a51bca5-1eff-43f5-878c-177680f191af"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
    ("WINDEFATP", "871d91ec-ec1a-452b-a83f-bd76c7d770ef"),
    (
        "MICROSOFTENDPOINTDLP",
        "64bfac92-2b17-4482-b5e5-a0304429de3e",
    ),
    ("UNIVERSAL_PRINT_01", "795f6fe0-cc4d-4773-b050-5dde4dc704c9"),
    ("WIN10_PRO_ENT_SUB", "21b439ba-a0ca-424f-a6cc-52f954a5b111"),
    ("Windows_Autopatch", "9a6eeb79-0b4b-4bf0-9808-39d99a2cd5a3"),
    (
        "WINDOWSUPDATEFORBUSINESS_DEPLOYMENTSERVICE",
        "7bf960f6-2cd9-443a-8046-5dbff9558365",
    ),
    ("AAD_PREMIUM", "41781fb2-bc02-4b7c-bd55-b576c07bb09d"),
    ("AAD_PREMIUM_P2", "eec0eb4f-6444-4f95-aba0-50c24d67f998"),
    ("RMS_S_PREMIUM", "6c57d4b6-3b23-47a5-9bc9-69f17b4947b3"),
    ("RMS_S_PREMIUM2", "5689bec4-755d-4753-8b61-40975025187c"),
    ("DYN365_CDS_O365_P3", "28b0fa46-c39a-4188-89e2-58e979a6b014"),
    ("MFA_PREMIUM", "8a256a2b-b617-496d-b51b-e76466e88db0"),
    (
        "ADALLOM_S_STANDALONE",
        "2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2",
    ),
    ("ATA", "14ab5db5-e6c4-4b20-b4bc-13e36fd2227f"),
    ("INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"),
    ("FLOW_O365_P3", "07699545-9485-468e-95b6-2fca3738be01"),
    (
        "POWER_VIRTUAL_AGENTS_O365_P3",
        "ded3d325-1bdc-453e-8432-5bac26d7a014",
    ),
    ("VIVAENGAGE_CORE", "a82fbf69-b4d7-49f4-83a6-915b2cf354f4"),
];

/// Microsoft 365 Business Standard (`O365_BUSINESS_PREMIUM`), 29 plans (CSV, 2023-08).
pub const O365_BUSINESS_PREMIUM: &[(&str, &str)] = &[
    ("CDS_O365_P2", "95b76021-6a53-4741-ab8b-1d1f3d66a95a"),
    (
        "EXCHANGE_S_STANDARD",
        "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    ),
    ("MYANALYTICS_P2", "33c4f319-9bdd-48d6-9c4d-410b750a4a5a"),
    ("OFFICE_BUSINESS", "094e7854-93fc-4d55-b2c0-3ab5369ebdc1"),
    ("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2"),
    ("FORMS_PLAN_E1", "159f4cd6-e380-449f-a816-af1a9ef76344"),
    ("KAIZALA_O365_P2", "54fc630f-5a40-48ee-8965-af0503c1386e"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("MICROSOFT_SEARCH", "94065c59-bc8e-4e8b-89e5-5138d471eaff"),
    ("Deskless", "8c7d2df8-86f0-4902-b2ed-a0458298f3b3"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("INTUNE_O365", "882e1d05-acd1-4ccb-8708-6ee03664b117"),
    ("Nucleus", "db4d623d-b514-490b-b7ef-8885eee514de"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    ("PROJECT_O365_P2", "31b4e2fc-4cd6-4e7d-9c1b-41407303bd66"),
    ("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    ("STREAM_O365_SMB", "3c53ea51-d578-46fa-a4c0-fd0a92809a60"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("BPOS_S_TODO_1", "5e62787c-c316-451f-b873-1d05acd4d12c"),
    (
        "VIVA_LEARNING_SEEDED",
        "b76fb638-6ba6-402a-b9f9-83d28acb3d86",
    ),
    ("WHITEBOARD_PLAN1", "b8afc642-032e-4de5-8c0a-507a7bba7e5d"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
    ("DYN365_CDS_O365_P2", "4ff01e01-1ba7-4d71-8cf8-ce96c3bbcf14"),
    ("RMS_S_BASIC", "31cf2cfc-6b0d-4adc-a336-88b724ed8122"),
    ("POWERAPPS_O365_P1", "92f7a6f3-b89b-4bbd-8c30-809e6da5ad1c"),
    ("FLOW_O365_P1", "0f9b09cb-62d1-4ff4-9129-43f4996f83f4"),
    (
        "POWER_VIRTUAL_AGENTS_O365_P2",
        "041fe683-03e4-45b6-b1af-c0cdc516daee",
    ),
    ("VIVAENGAGE_CORE", "a82fbf69-b4d7-49f4-83a6-915b2cf354f4"),
];

/// Microsoft 365 Business Basic (`O365_BUSINESS_ESSENTIALS`), 13 plans (CSV, 2023-08).
pub const O365_BUSINESS_ESSENTIALS: &[(&str, &str)] = &[
    ("BPOS_S_TODO_1", "5e62787c-c316-451f-b873-1d05acd4d12c"),
    (
        "EXCHANGE_S_STANDARD",
        "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    ),
    ("FLOW_O365_P1", "0f9b09cb-62d1-4ff4-9129-43f4996f83f4"),
    ("FORMS_PLAN_E1", "159f4cd6-e380-449f-a816-af1a9ef76344"),
    ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
    (
        "OFFICEMOBILE_SUBSCRIPTION",
        "c63d4d19-e8cb-460e-b37c-4d6c34603745",
    ),
    ("POWERAPPS_O365_P1", "92f7a6f3-b89b-4bbd-8c30-809e6da5ad1c"),
    (
        "PROJECTWORKMANAGEMENT",
        "b737dad2-2f6c-4c65-90e3-ca563267e8b9",
    ),
    ("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"),
    ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
    ("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97"),
    ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
    ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
];

/// Enterprise Mobility + Security E3 (`EMS`), 7 plans (CSV, 2023-08).
pub const EMS: &[(&str, &str)] = &[
    ("AAD_PREMIUM", "41781fb2-bc02-4b7c-bd55-b576c07bb09d"),
    ("RMS_S_PREMIUM", "6c57d4b6-3b23-47a5-9bc9-69f17b4947b3"),
    (
        "ADALLOM_S_DISCOVERY",
        "932ad362-64a8-4783-9106-97849a1a30b9",
    ),
    (
        "EXCHANGE_S_FOUNDATION",
        "113feb6c-3fe4-4440-bddc-54d774bf0318",
    ),
    ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
    ("MFA_PREMIUM", "8a256a2b-b617-496d-b51b-e76466e88db0"),
    ("INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"),
];

/// Power BI Pro (`POWER_BI_PRO`), 2 plans (CSV, 2023-08).
pub const POWER_BI_PRO: &[(&str, &str)] = &[
    (
        "EXCHANGE_S_FOUNDATION",
        "113feb6c-3fe4-4440-bddc-54d774bf0318",
    ),
    ("BI_AZURE_P2", "70d33638-9c74-4d01-bfd3-562de28bd4ba"),
];

/// The service plans of a SKU part number (empty for SKUs the list above lacks).
pub fn for_sku(sku_part_number: &str) -> &'static [(&'static str, &'static str)] {
    let all: [(&str, &[(&str, &str)]); 9] = [
        ("ENTERPRISEPACK", ENTERPRISEPACK),
        ("SPE_E3", SPE_E3),
        ("STANDARDPACK", STANDARDPACK),
        ("ENTERPRISEPREMIUM", ENTERPRISEPREMIUM),
        ("SPE_E5", SPE_E5),
        ("O365_BUSINESS_PREMIUM", O365_BUSINESS_PREMIUM),
        ("O365_BUSINESS_ESSENTIALS", O365_BUSINESS_ESSENTIALS),
        ("EMS", EMS),
        ("POWER_BI_PRO", POWER_BI_PRO),
    ];
    all.iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(sku_part_number))
        .map_or(&[], |(_, plans)| plans)
}

/// The service plans of a SKU id (the well-known ids of [`super::model::sku_id_for`]).
pub fn for_sku_id(sku: uuid::Uuid) -> &'static [(&'static str, &'static str)] {
    const PARTS: [&str; 9] = [
        "ENTERPRISEPACK",
        "SPE_E3",
        "STANDARDPACK",
        "ENTERPRISEPREMIUM",
        "SPE_E5",
        "O365_BUSINESS_PREMIUM",
        "O365_BUSINESS_ESSENTIALS",
        "EMS",
        "POWER_BI_PRO",
    ];
    PARTS
        .iter()
        .find(|p| super::model::sku_id_for(p) == sku)
        .map_or(&[], |p| for_sku(p))
}

/// The `service` of an `assignedPlan` (resources/assignedplan.md: "The name of the
/// service; for example, exchange"). Microsoft's list names plans, not services, so
/// the plan families whose service name Graph's documented examples show are mapped
/// (`exchange`, `SharePoint`, `MicrosoftCommunicationsOnline`, `MicrosoftOffice`,
/// `TeamspaceAPI`, …); any other plan reports its own name.
pub fn service_name(plan: &str) -> &str {
    let families: [(&str, &str); 12] = [
        ("EXCHANGE_", "exchange"),
        ("SHAREPOINT", "SharePoint"),
        ("MCO", "MicrosoftCommunicationsOnline"),
        ("OFFICESUBSCRIPTION", "MicrosoftOffice"),
        ("OFFICE_BUSINESS", "MicrosoftOffice"),
        ("TEAMS1", "TeamspaceAPI"),
        ("YAMMER_", "YammerEnterprise"),
        ("RMS_S_", "RMSOnline"),
        ("PROJECTWORKMANAGEMENT", "ProjectWorkManagement"),
        ("SWAY", "Sway"),
        ("INTUNE_", "SCO"),
        ("AAD_PREMIUM", "AADPremiumService"),
    ];
    families
        .iter()
        .find(|(prefix, _)| plan.starts_with(prefix))
        .map_or(plan, |(_, service)| service)
}
